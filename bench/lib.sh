# Shared by the benchmark scripts (sourced): a temp dir and process list cleaned up on exit,
# free loopback ports, CPU ticks of a process, the median of a list of numbers, and the HTTP/1.1
# bench's backend, remora, HAProxy and nginx configs (bench/http.sh and bench/cpu_per_request.sh
# measure the same path).

BENCH_TMP=$(mktemp -d /tmp/remora-bench.XXXXXX)
PIDS=()
bench_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT INT TERM

# free_ports N: N distinct loopback ports, all held bound until every one is chosen.
free_ports() {
  /usr/bin/python3 - "$1" <<'PYEOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PYEOF
}

# cpu_ticks PID: utime + stime from /proc (fields 14 and 15, counted after the command name).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# wait_http URL WHAT: a bounded wait (30 s) for an HTTP 200.
wait_http() {
  for _ in $(seq 600); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null) == 200 ]] && return 0
    sleep 0.05
  done
  echo "bench: $2 not answering 200 at $1" >&2; exit 1
}

# start_backend_nginx DIR PORT: nginx, one worker on CPU 0, a 13-byte body from memory.
start_backend_nginx() {
  mkdir -p "$1"
  cat >"$1/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$2;
    location / { return 200 "hello, world\n"; }
  }
}
EOF
  taskset -c 0 nginx -c "$1/nginx.conf" -e "$1/error.log" &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$2/" "backend nginx"
}

# write_remora_http_config FILE ADMIN_PORT LISTEN_PORT BACKEND_PORT: remora proxying every
# request to one static backend, router only (stat prefix "bench").
write_remora_http_config() {
  cat >"$1" <<EOF
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: $2 } }
static_resources:
  listeners:
  - name: http
    address: { socket_address: { address: 127.0.0.1, port_value: $3 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
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
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $4 } } }
EOF
}

# write_haproxy_config FILE LISTEN_PORT BACKEND_PORT: HAProxy in mode http, one thread, keep-alive
# on both sides, upstream connections reused (as bench/http.sh compares it).
write_haproxy_config() {
  cat >"$1" <<EOF
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
  bind 127.0.0.1:$2
  default_backend back
backend back
  http-reuse always
  server b1 127.0.0.1:$3
EOF
}

# write_nginx_proxy_config DIR LISTEN_PORT BACKEND_PORT [MAIN_DIRECTIVES]: nginx as a proxy, one
# worker, upstream keep-alive (HTTP/1.1 with the Connection header cleared); DIR/nginx.conf.
# MAIN_DIRECTIVES go to the main context (e.g. "master_process off;" for one process to trace).
write_nginx_proxy_config() {
  mkdir -p "$1"
  cat >"$1/nginx.conf" <<EOF
worker_processes 1;
${4:-}
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream back { server 127.0.0.1:$3; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$2;
    location / {
      proxy_pass http://back;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
}
