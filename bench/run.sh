#!/usr/bin/env bash
# Bulk TCP throughput of one connection: direct vs HAProxy (mode tcp, 1 thread) vs remora
# (--concurrency 1), all in one run on this machine, loopback only.
#   usage: bench/run.sh BUILD/bin/remora [GiB per transfer, default 2] [repeats, default 3]
# The proxy is pinned to CPU 1; the sender and the sink share CPU 0 (also for "direct").
set -euo pipefail

BIN=$(realpath "${1:?usage: bench/run.sh path/to/remora [GiB] [repeats]}")
GIB=${2:-2}
REPEATS=${3:-3}
BYTES=$((GIB << 30))
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
BULK="$HERE/tcp_bulk.py"
command -v haproxy >/dev/null || { echo "bench: haproxy not installed (make deps)" >&2; exit 1; }

source "$HERE/lib.sh"
TMP=$BENCH_TMP
read -r SINK_PORT HAPROXY_PORT REMORA_PORT ADMIN_PORT < <(free_ports 4)

wait_port() {  # port, what — bounded wait for a listener
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench: $2 did not start listening on :$1" >&2; exit 1
}

taskset -c 0 $PY "$BULK" sink "$SINK_PORT" >/dev/null &
PIDS+=($!)
wait_port "$SINK_PORT" sink

cat >"$TMP/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 1000
defaults
  mode tcp
  timeout connect 5s
  timeout client 120s
  timeout server 120s
listen bulk
  bind 127.0.0.1:$HAPROXY_PORT
  server sink 127.0.0.1:$SINK_PORT
EOF
taskset -c 1 haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
HAPROXY_PID=$!
PIDS+=($HAPROXY_PID)
wait_port "$HAPROXY_PORT" haproxy

cat >"$TMP/remora.yaml" <<EOF
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: $ADMIN_PORT } }
static_resources:
  listeners:
  - name: bulk
    address: { socket_address: { address: 127.0.0.1, port_value: $REMORA_PORT } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: bulk
          cluster: sink
  clusters:
  - name: sink
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: sink
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $SINK_PORT } } }
EOF
taskset -c 1 "$BIN" -c "$TMP/remora.yaml" --concurrency 1 -l warning >"$TMP/remora.log" 2>&1 &
REMORA_PID=$!
PIDS+=($REMORA_PID)
for _ in $(seq 200); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/ready" 2>/dev/null) == 200 ]] && break
  kill -0 "$REMORA_PID" 2>/dev/null || { cat "$TMP/remora.log" >&2; exit 1; }
  sleep 0.05
done
wait_port "$REMORA_PORT" remora

CLK=$(getconf CLK_TCK)

declare -A RESULTS CPU
for target in direct haproxy remora; do RESULTS[$target]=""; CPU[$target]=0; done
port_of() { case $1 in direct) echo "$SINK_PORT" ;; haproxy) echo "$HAPROXY_PORT" ;; remora) echo "$REMORA_PORT" ;; esac; }
pid_of() { case $1 in haproxy) echo "$HAPROXY_PID" ;; remora) echo "$REMORA_PID" ;; *) echo "" ;; esac; }

echo "bench: $GIB GiB per transfer, $REPEATS repeats, interleaved (direct, haproxy, remora)" >&2
for ((i = 1; i <= REPEATS; i++)); do
  for target in direct haproxy remora; do
    pid=$(pid_of $target)
    [[ -n $pid ]] && before=$(cpu_ticks "$pid")
    read -r bytes secs < <(taskset -c 0 $PY "$BULK" send "$(port_of $target)" "$BYTES")
    [[ -n $pid ]] && CPU[$target]=$((CPU[$target] + $(cpu_ticks "$pid") - before))
    gbps=$(awk -v b="$bytes" -v s="$secs" 'BEGIN{printf "%.3f", b / s / 1e9}')
    RESULTS[$target]+="$gbps "
    printf '  run %d %-8s %s GB/s\n' "$i" "$target" "$gbps" >&2
  done
done

D=$(median "${RESULTS[direct]}")
H=$(median "${RESULTS[haproxy]}")
R=$(median "${RESULTS[remora]}")
cpu_per_gib() { awk -v t="$1" -v c="$CLK" -v g="$((GIB * REPEATS))" 'BEGIN{printf "%.3f", t / c / g}'; }

echo
echo "| path | median GB/s (runs) | proxy CPU s per GiB |"
echo "|---|---|---|"
echo "| direct | $D (${RESULTS[direct]% }) | – |"
echo "| HAProxy $(haproxy -v | head -1 | awk '{print $3}') mode tcp, nbthread 1 | $H (${RESULTS[haproxy]% }) | $(cpu_per_gib "${CPU[haproxy]}") |"
echo "| remora --concurrency 1 | $R (${RESULTS[remora]% }) | $(cpu_per_gib "${CPU[remora]}") |"
echo
awk -v r="$R" -v h="$H" -v d="$D" 'BEGIN{printf "remora/haproxy = %.2fx   remora/direct = %.2fx\n", r / h, r / d}'
