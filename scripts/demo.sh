#!/usr/bin/env bash
# A first look at remora: a tiny backend on :8080, remora with examples/tcp_proxy.yaml
# (listener :10000 → cluster backend, admin :9901), one request through it, and the stats it moved.
#   usage: scripts/demo.sh build/bin/remora
set -euo pipefail

BIN=$(realpath "${1:?usage: scripts/demo.sh path/to/remora}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONFIG="$ROOT/examples/tcp_proxy.yaml"
PY=/usr/bin/python3
LOG=$(mktemp /tmp/remora-demo.XXXXXX.log)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "$LOG"
}
trap cleanup EXIT INT TERM

for port in 8080 9901 10000; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "demo: port $port is busy; the example config uses 8080 (backend), 9901 (admin), 10000 (listener)" >&2
    exit 1
  fi
done

echo "== backend on 127.0.0.1:8080 (replies 'backend got: <line>')"
$PY -c '
import socket
srv = socket.create_server(("127.0.0.1", 8080))
srv.settimeout(60)  # bounded: the demo is over long before
while True:
    conn, _ = srv.accept()
    with conn:
        line = conn.makefile("rb").readline()
        conn.sendall(b"backend got: " + line)
' &
PIDS+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && break; sleep 0.05; done

echo "== remora -c examples/tcp_proxy.yaml"
"$BIN" -c "$CONFIG" --concurrency 1 -l info >"$LOG" 2>&1 &
REMORA=$!
PIDS+=($REMORA)
ready=""
for _ in $(seq 100); do  # up to ~5 s
  if [[ $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9901/ready 2>/dev/null) == 200 ]]; then
    ready=1; break
  fi
  kill -0 "$REMORA" 2>/dev/null || break
  sleep 0.05
done
if [[ -z $ready ]]; then
  echo "demo: remora did not become ready; its log:" >&2
  cat "$LOG" >&2
  exit 1
fi
echo "   /ready: $(curl -s http://127.0.0.1:9901/ready)"

echo "== one request through remora (127.0.0.1:10000)"
reply=$($PY -c '
import socket
with socket.create_connection(("127.0.0.1", 10000), timeout=5) as s:
    s.sendall(b"hello through remora\n")
    s.shutdown(socket.SHUT_WR)
    print(s.makefile("rb").read().decode().strip())
')
echo "   sent:     hello through remora"
echo "   received: $reply"

echo "== stats it moved"
for filter in '^listener\.127\.0\.0\.1_10000\.downstream_cx_total' \
              '^cluster\.backend\.upstream_cx_(total|rx_bytes_total|tx_bytes_total)$' \
              '^tcp\.ingress_tcp\.downstream_cx_total'; do
  curl -s -G --data-urlencode "filter=$filter" http://127.0.0.1:9901/stats | sed 's/^/   /'
done

echo "== shutting down (SIGTERM)"
kill -TERM "$REMORA"
for _ in $(seq 100); do kill -0 "$REMORA" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$REMORA" 2>/dev/null; then echo "demo: remora still running after SIGTERM" >&2; exit 1; fi
if wait "$REMORA"; then echo "   remora exited 0"; else rc=$?; echo "demo: remora exited $rc" >&2; exit 1; fi
