#!/usr/bin/env bash
# HTTP/1.1 keep-alive, small responses: direct vs HAProxy (1 thread) vs nginx (1 worker) vs remora
# (--concurrency 1), all in front of the same nginx backend, in one run on this machine (loopback).
#   usage: bench/http.sh BUILD/bin/remora [seconds per wrk run, default 10] [repeats, default 3]
# Pinning: the proxy under test on CPU 1; wrk/hey and the backend share CPU 0.
# Reported per path: wrk requests/s at 32 connections (median of the repeats), the proxy's CPU time
# per request (utime+stime from /proc over the wrk runs), and hey's p99 at a fixed 5,000 requests/s.
set -euo pipefail

BIN=$(realpath "${1:?usage: bench/http.sh path/to/remora [seconds] [repeats]}")
SECS=${2:-10}
REPEATS=${3:-3}
CONNS=32
RATE=5000
HERE=$(cd "$(dirname "$0")" && pwd)
for tool in haproxy nginx wrk hey curl; do
  command -v $tool >/dev/null || { echo "bench: $tool not installed (make deps)" >&2; exit 1; }
done

source "$HERE/lib.sh"
TMP=$BENCH_TMP
read -r BACKEND_PORT HAPROXY_PORT NGINX_PORT REMORA_PORT ADMIN_PORT < <(free_ports 5)


# The backend: nginx, one worker, a 13-byte body from memory.
mkdir -p "$TMP/backend" "$TMP/proxy"
start_backend_nginx "$TMP/backend" "$BACKEND_PORT"

write_haproxy_config "$TMP/haproxy.cfg" "$HAPROXY_PORT" "$BACKEND_PORT"
taskset -c 1 haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
HAPROXY_PID=$!
PIDS+=($HAPROXY_PID)
wait_http "http://127.0.0.1:$HAPROXY_PORT/" haproxy

# nginx as a proxy (bench/lib.sh), its worker on CPU 1.
write_nginx_proxy_config "$TMP/proxy" "$NGINX_PORT" "$BACKEND_PORT" "worker_cpu_affinity 10;"
taskset -c 1 nginx -c "$TMP/proxy/nginx.conf" -e "$TMP/proxy/error.log" &
NGINX_MASTER=$!
PIDS+=($NGINX_MASTER)
wait_http "http://127.0.0.1:$NGINX_PORT/" "proxy nginx"
NGINX_WORKER=$(pgrep -P "$NGINX_MASTER" | head -1)

write_remora_http_config "$TMP/remora.yaml" "$ADMIN_PORT" "$REMORA_PORT" "$BACKEND_PORT"
taskset -c 1 "$BIN" -c "$TMP/remora.yaml" --concurrency 1 -l warning >"$TMP/remora.log" 2>&1 &
REMORA_PID=$!
PIDS+=($REMORA_PID)
wait_http "http://127.0.0.1:$ADMIN_PORT/ready" "remora admin"
wait_http "http://127.0.0.1:$REMORA_PORT/" remora

TARGETS=(direct haproxy nginx remora)
port_of() {
  case $1 in direct) echo "$BACKEND_PORT" ;; haproxy) echo "$HAPROXY_PORT" ;;
    nginx) echo "$NGINX_PORT" ;; remora) echo "$REMORA_PORT" ;; esac
}
pid_of() { case $1 in haproxy) echo "$HAPROXY_PID" ;; nginx) echo "$NGINX_WORKER" ;; remora) echo "$REMORA_PID" ;; *) echo "" ;; esac; }
CLK=$(getconf CLK_TCK)

declare -A RPS CPU REQS P99
for t in "${TARGETS[@]}"; do RPS[$t]=""; CPU[$t]=0; REQS[$t]=0; done

echo "bench: wrk -t1 -c$CONNS -d${SECS}s, $REPEATS repeats interleaved; then hey at $RATE req/s" >&2
for ((i = 1; i <= REPEATS; i++)); do
  for t in "${TARGETS[@]}"; do
    pid=$(pid_of "$t")
    [[ -n $pid ]] && before=$(cpu_ticks "$pid")
    out=$(taskset -c 0 wrk -t1 -c$CONNS -d"${SECS}s" "http://127.0.0.1:$(port_of "$t")/")
    [[ -n $pid ]] && CPU[$t]=$((CPU[$t] + $(cpu_ticks "$pid") - before))
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    errors=$(grep -E "Non-2xx|Socket errors" <<<"$out" || true)
    [[ -n $errors ]] && echo "bench: $t: $errors" >&2
    RPS[$t]+="$rps "
    REQS[$t]=$((REQS[$t] + n))
    printf '  run %d %-8s %10s req/s\n' "$i" "$t" "$rps" >&2
  done
done

# p99 at a fixed rate: hey spreads -q per worker, so 50 workers x 100 req/s = 5,000 req/s.
for t in "${TARGETS[@]}"; do
  out=$(taskset -c 0 hey -z "${SECS}s" -c 50 -q $((RATE / 50)) "http://127.0.0.1:$(port_of "$t")/")
  P99[$t]=$(awk '/ 99% in / {printf "%.2f", $3 * 1000}' <<<"$out")
  printf '  hey %-8s p99 %s ms\n' "$t" "${P99[$t]}" >&2
done

us_per_req() { awk -v t="$1" -v c="$CLK" -v n="$2" 'BEGIN{ if (n == 0) print "–"; else printf "%.2f", t / c / n * 1e6 }'; }
declare -A MED US
for t in "${TARGETS[@]}"; do
  MED[$t]=$(median "${RPS[$t]}")
  US[$t]=$( [[ $t == direct ]] && echo "–" || us_per_req "${CPU[$t]}" "${REQS[$t]}")
done

label() {
  case $1 in
    direct) echo "direct (wrk → nginx backend)" ;;
    haproxy) echo "HAProxy $(haproxy -v | head -1 | awk '{print $3}'), nbthread 1" ;;
    nginx) echo "nginx $(nginx -v 2>&1 | sed 's|.*/||; s| .*||'), 1 worker" ;;
    remora) echo "remora --concurrency 1" ;;
  esac
}
echo
echo "| path | median req/s (runs) | proxy CPU µs per request | p99 at $RATE req/s (ms) |"
echo "|---|---|---|---|"
for t in "${TARGETS[@]}"; do
  echo "| $(label "$t") | ${MED[$t]} (${RPS[$t]% }) | ${US[$t]} | ${P99[$t]} |"
done
echo
awk -v r="${MED[remora]}" -v h="${MED[haproxy]}" -v n="${MED[nginx]}" \
    -v cr="${US[remora]}" -v ch="${US[haproxy]}" -v cn="${US[nginx]}" \
    -v pr="${P99[remora]}" -v ph="${P99[haproxy]}" 'BEGIN{
  printf "req/s: remora/haproxy = %.2fx   remora/nginx = %.2fx\n", r / h, r / n
  printf "CPU per request: remora/haproxy = %.2fx   remora/nginx = %.2fx (lower is better)\n", cr / ch, cr / cn
  printf "p99 at fixed rate: remora/haproxy = %.2fx (lower is better)\n", pr / ph
}'
