#!/usr/bin/env bash
# HTTP/2 end to end, small responses: direct vs HAProxy (1 thread) vs nghttpx (1 worker) vs remora
# (--concurrency 1), each speaking h2c (prior knowledge) to the client and HTTP/2 to the same nginx
# backend, in one run on this machine (loopback). Two rows per path: a GET of a 13-byte body, and
# a gRPC unary call (POST of a gRPC-framed message, content-type application/grpc, te: trailers;
# the backend answers a gRPC-framed message and grpc-status in trailers).
#   usage: bench/h2.sh BUILD/bin/remora [seconds per h2load run, default 10] [repeats, default 3]
# Load: h2load -c10 -m10 (10 connections x 10 concurrent streams), one thread.
# Pinning: the proxy under test on CPU 1; h2load and the backend share CPU 0.
# Reported per path and row: h2load requests/s (median of the repeats) and the proxy's CPU time per
# request (utime+stime from /proc over the h2load runs).
set -euo pipefail

BIN=$(realpath "${1:?usage: bench/h2.sh path/to/remora [seconds] [repeats]}")
SECS=${2:-10}
REPEATS=${3:-3}
CLIENTS=10
STREAMS=10
HERE=$(cd "$(dirname "$0")" && pwd)
for tool in haproxy nginx nghttpx h2load curl; do
  command -v $tool >/dev/null || { echo "bench: $tool not installed (make deps)" >&2; exit 1; }
done

source "$HERE/lib.sh"
TMP=$BENCH_TMP
read -r BACKEND_PORT HAPROXY_PORT NGHTTPX_PORT REMORA_PORT ADMIN_PORT < <(free_ports 5)
GRPC_PATH=/bench.Bench/Unary

wait_h2() {  # url, what — bounded wait for an HTTP/2 200 (prior knowledge)
  for _ in $(seq 200); do
    [[ $(curl -s --http2-prior-knowledge -o /dev/null -w '%{http_code}' "$1" 2>/dev/null) == 200 ]] \
      && return 0
    sleep 0.05
  done
  echo "bench: $2 not answering 200 over HTTP/2 at $1" >&2; exit 1
}

# gRPC messages: a 5-byte prefix (not compressed, length 7) and a 7-byte protobuf (field 1, "hello"
# or "world"). The backend serves the reply as a file: POST to a static file is a 405 in nginx,
# which error_page turns back into the file with status 200.
mkdir -p "$TMP/backend/www/bench.Bench"
printf '\x00\x00\x00\x00\x07\x0a\x05hello' >"$TMP/grpc_request"
printf '\x00\x00\x00\x00\x07\x0a\x05world' >"$TMP/backend/www$GRPC_PATH"
chmod -R a+rX "$TMP"  # nginx's worker runs as nobody

# The backend: nginx, one worker, HTTP/2 without TLS (prior knowledge), small bodies from memory.
cat >"$TMP/backend/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/backend/nginx.pid;
error_log $TMP/backend/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  http2_max_concurrent_streams 1000;
  open_file_cache max=16;
  server {
    listen 127.0.0.1:$BACKEND_PORT http2;
    location / { return 200 "hello, world\n"; }
    location = $GRPC_PATH {
      root $TMP/backend/www;
      default_type application/grpc;
      etag off;
      error_page 405 =200 \$uri;
      add_trailer grpc-status 0;
    }
  }
}
EOF
taskset -c 0 nginx -c "$TMP/backend/nginx.conf" -e "$TMP/backend/error.log" &
PIDS+=($!)
wait_h2 "http://127.0.0.1:$BACKEND_PORT/" "backend nginx"

# HAProxy: HTTP/2 on both sides; idle backend connections shared by all client connections.
cat >"$TMP/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
frontend front
  bind 127.0.0.1:$HAPROXY_PORT proto h2
  default_backend back
backend back
  http-reuse always
  server b1 127.0.0.1:$BACKEND_PORT proto h2
EOF
taskset -c 1 haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
HAPROXY_PID=$!
PIDS+=($HAPROXY_PID)
wait_h2 "http://127.0.0.1:$HAPROXY_PORT/" haproxy

# nghttpx: one worker in one process (no master), cleartext HTTP/2 frontend, HTTP/2 backend.
taskset -c 1 nghttpx --conf=/dev/null --single-process --workers=1 \
  --frontend="127.0.0.1,$NGHTTPX_PORT;no-tls" --backend="127.0.0.1,$BACKEND_PORT;;proto=h2" \
  --errorlog-file="$TMP/nghttpx.log" >"$TMP/nghttpx.out" 2>&1 &
NGHTTPX_PID=$!
PIDS+=($NGHTTPX_PID)
wait_h2 "http://127.0.0.1:$NGHTTPX_PORT/" nghttpx

cat >"$TMP/remora.yaml" <<EOF
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: $ADMIN_PORT } }
static_resources:
  listeners:
  - name: http
    address: { socket_address: { address: 127.0.0.1, port_value: $REMORA_PORT } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          codec_type: HTTP2
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{ match: { prefix: "/" }, route: { cluster: backend } }]
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - name: backend
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $BACKEND_PORT } } }
EOF
taskset -c 1 "$BIN" -c "$TMP/remora.yaml" --concurrency 1 -l warning >"$TMP/remora.log" 2>&1 &
REMORA_PID=$!
PIDS+=($REMORA_PID)
for _ in $(seq 200); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/ready") == 200 ]] && break
  sleep 0.05
done
wait_h2 "http://127.0.0.1:$REMORA_PORT/" remora

TARGETS=(direct haproxy nghttpx remora)
ROWS=(get grpc)
port_of() {
  case $1 in direct) echo "$BACKEND_PORT" ;; haproxy) echo "$HAPROXY_PORT" ;;
    nghttpx) echo "$NGHTTPX_PORT" ;; remora) echo "$REMORA_PORT" ;; esac
}
pid_of() { case $1 in haproxy) echo "$HAPROXY_PID" ;; nghttpx) echo "$NGHTTPX_PID" ;; remora) echo "$REMORA_PID" ;; *) echo "" ;; esac; }
# h2load arguments of a row (the URL last).
row_args() {
  case $1 in
    get) echo "http://127.0.0.1:$2/" ;;
    grpc) echo "-d $TMP/grpc_request -H content-type:application/grpc -H te:trailers http://127.0.0.1:$2$GRPC_PATH" ;;
  esac
}
CLK=$(getconf CLK_TCK)

declare -A RPS CPU REQS
for t in "${TARGETS[@]}"; do for r in "${ROWS[@]}"; do
  RPS[$t.$r]=""; CPU[$t.$r]=0; REQS[$t.$r]=0
done; done

echo "bench: h2load -c$CLIENTS -m$STREAMS -D ${SECS}s, $REPEATS repeats interleaved" >&2
for ((i = 1; i <= REPEATS; i++)); do
  for r in "${ROWS[@]}"; do
    for t in "${TARGETS[@]}"; do
      pid=$(pid_of "$t")
      [[ -n $pid ]] && before=$(cpu_ticks "$pid")
      # shellcheck disable=SC2046
      out=$(taskset -c 0 h2load -t1 -c$CLIENTS -m$STREAMS -D "$SECS" $(row_args "$r" "$(port_of "$t")"))
      [[ -n $pid ]] && CPU[$t.$r]=$((CPU[$t.$r] + $(cpu_ticks "$pid") - before))
      rps=$(awk '/^finished in/ {print $4}' <<<"$out")
      n=$(awk '/^requests:/ {print $8}' <<<"$out")
      failed=$(awk '/^requests:/ {print $10 + $12 + $14}' <<<"$out")
      non2xx=$(awk '/^status codes:/ {print $5 + $7 + $9}' <<<"$out")
      [[ ${failed:-1} != 0 || ${non2xx:-1} != 0 ]] &&
        echo "bench: $t $r: $(grep -E '^(requests|status codes):' <<<"$out" | tr '\n' ' ')" >&2
      RPS[$t.$r]+="$rps "
      REQS[$t.$r]=$((REQS[$t.$r] + ${n:-0}))
      printf '  run %d %-4s %-8s %10s req/s\n' "$i" "$r" "$t" "$rps" >&2
    done
  done
done

us_per_req() { awk -v t="$1" -v c="$CLK" -v n="$2" 'BEGIN{ if (n == 0) print "–"; else printf "%.2f", t / c / n * 1e6 }'; }
declare -A MED US
for t in "${TARGETS[@]}"; do for r in "${ROWS[@]}"; do
  MED[$t.$r]=$(median "${RPS[$t.$r]}")
  US[$t.$r]=$( [[ $t == direct ]] && echo "–" || us_per_req "${CPU[$t.$r]}" "${REQS[$t.$r]}")
done; done

label() {
  case $1 in
    direct) echo "direct (h2load → nginx backend)" ;;
    haproxy) echo "HAProxy $(haproxy -v | head -1 | awk '{print $3}'), nbthread 1" ;;
    nghttpx) echo "nghttpx $(nghttpx --version | awk '{print $2}' | sed 's|.*/||'), 1 worker" ;;
    remora) echo "remora --concurrency 1" ;;
  esac
}
echo
echo "| path | GET req/s median (runs) | proxy CPU µs per GET | gRPC unary req/s median (runs) | proxy CPU µs per gRPC call |"
echo "|---|---|---|---|---|"
for t in "${TARGETS[@]}"; do
  echo "| $(label "$t") | ${MED[$t.get]} (${RPS[$t.get]% }) | ${US[$t.get]} | ${MED[$t.grpc]} (${RPS[$t.grpc]% }) | ${US[$t.grpc]} |"
done
echo
for r in "${ROWS[@]}"; do
  awk -v row="$r" -v r="${MED[remora.$r]}" -v h="${MED[haproxy.$r]}" -v n="${MED[nghttpx.$r]}" \
      -v cr="${US[remora.$r]}" -v ch="${US[haproxy.$r]}" -v cn="${US[nghttpx.$r]}" 'BEGIN{
    printf "%-4s req/s: remora/haproxy = %.2fx   remora/nghttpx = %.2fx\n", row, r / h, r / n
    if (ch + 0 > 0 && cn + 0 > 0)
      printf "%-4s CPU per request: remora/haproxy = %.2fx   remora/nghttpx = %.2fx (lower is better)\n", row, cr / ch, cr / cn
  }'
done
