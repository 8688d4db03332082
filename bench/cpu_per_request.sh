#!/usr/bin/env bash
# CPU work per proxied HTTP/1.1 keep-alive request, counted rather than timed, so that two remora
# binaries can be compared (A/B) on a busy machine. Same path as bench/http.sh: wrk -t1 -c32 →
# remora (--concurrency 1, HCM → router → STATIC cluster, no access log) → nginx backend (1 worker,
# 13-byte body). With --peers, HAProxy and nginx (bench/http.sh's configs; nginx as one process)
# are measured the same way after the remora binaries.
#   usage: bench/cpu_per_request.sh BIN_A [BIN_B ...] [--peers] [-- wrk seconds, default 5]
#   e.g.   bench/cpu_per_request.sh /tmp/remora_main build/bin/remora --peers
#
# Per binary (and peer), two phases against a freshly started process:
#  1. user space, under valgrind's callgrind: instructions executed by the remora process
#     (every thread) while wrk runs, divided by the requests it served (the delta of
#     http.bench.downstream_rq_total; for a peer, the responses wrk counted). Exact and
#     repeatable to a fraction of a percent; this VM has no hardware counters, so
#     `perf stat -e instructions:u` cannot count them.
#     Also written: the callgrind profile of the measured interval (callgrind_annotate it).
#  2. kernel side, native: system calls per request (perf's raw_syscalls:sys_enter tracepoint
#     plus the per-call breakdown) and, for reference only, user and system CPU µs per request
#     from /proc (timed, hence noisy on a shared machine). Kernel instructions cannot be counted
#     here either; the syscall count is the repeatable proxy for them.
# Keep the machine otherwise the same between A and B; each phase warms up remora's upstream
# connections first.
set -euo pipefail

BINS=()
SECS=5
PEERS=0
while (($#)); do
  if [[ $1 == -- ]]; then SECS=${2:?}; break; fi
  if [[ $1 == --peers ]]; then PEERS=1; shift; continue; fi
  BINS+=("$(realpath "$1")"); shift
done
((${#BINS[@]})) || { echo "usage: $0 BIN_A [BIN_B ...] [-- seconds]" >&2; exit 2; }
for tool in nginx wrk curl valgrind callgrind_control perf $( ((PEERS)) && echo haproxy); do
  command -v $tool >/dev/null || { echo "cpu_per_request: $tool not installed" >&2; exit 1; }
done

HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
TMP=$BENCH_TMP
OUT=${CPU_PER_REQUEST_OUT:-/tmp/remora-cpu-per-request}
mkdir -p "$OUT"
read -r BACKEND_PORT REMORA_PORT ADMIN_PORT PEER_PORT < <(free_ports 4)


mkdir -p "$TMP/backend"
start_backend_nginx "$TMP/backend" "$BACKEND_PORT"

write_remora_http_config "$TMP/remora.yaml" "$ADMIN_PORT" "$REMORA_PORT" "$BACKEND_PORT"
write_haproxy_config "$TMP/haproxy.cfg" "$PEER_PORT" "$BACKEND_PORT"
write_nginx_proxy_config "$TMP/nginx" "$PEER_PORT" "$BACKEND_PORT" "master_process off;"

# The process under test for a label: a remora binary, or a peer. Sets CMD, PORT and READY_URL.
target() {  # bin-or-peer
  case $1 in
    haproxy) CMD=(haproxy -db -f "$TMP/haproxy.cfg"); PORT=$PEER_PORT; READY_URL="http://127.0.0.1:$PEER_PORT/" ;;
    nginx) CMD=(nginx -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log"); PORT=$PEER_PORT
      READY_URL="http://127.0.0.1:$PEER_PORT/" ;;
    *) CMD=("$1" -c "$TMP/remora.yaml" --concurrency 1 -l warning); PORT=$REMORA_PORT
      READY_URL="http://127.0.0.1:$ADMIN_PORT/ready" ;;
  esac
}

rq_total() {
  curl -s "http://127.0.0.1:$ADMIN_PORT/stats" | awk -F': ' '$1 == "http.bench.downstream_rq_total" {print $2}'
}
# load SECONDS: wrk against the target; prints the responses it counted.
load() { taskset -c 0 wrk -t1 -c32 -d"$1s" "http://127.0.0.1:$PORT/" | awk '/requests in/ {print $1}'; }
# The requests served in a measured run: remora's own count when it is the target, else wrk's.
counted() {  # label, wrk count, before, after
  if [[ $1 == haproxy || $1 == nginx ]]; then echo "$2"; else echo $(($4 - $3)); fi
}
is_remora() { [[ $1 != haproxy && $1 != nginx ]]; }
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# Phase 1: user-space instructions per request under callgrind.
user_phase() {  # bin, label
  local pid before=0 after=0 n wrk_n
  target "$1"
  # shellcheck disable=SC2086  # CALLGRIND_OPTS: extra options, e.g. "--cache-sim=yes --branch-sim=yes"
  taskset -c 1 valgrind --tool=callgrind --instr-atstart=no ${CALLGRIND_OPTS:-} \
    --callgrind-out-file="$OUT/callgrind.$2.out" "${CMD[@]}" >"$TMP/vg.$2.log" 2>&1 &
  pid=$!
  PIDS+=($pid)
  wait_http "$READY_URL" "$2"
  callgrind_control -i on "$pid" >/dev/null
  load 2 >/dev/null
  is_remora "$1" && before=$(rq_total)
  callgrind_control -z "$pid" >/dev/null
  wrk_n=$(load "$SECS")
  callgrind_control --dump=measured "$pid" >/dev/null
  is_remora "$1" && after=$(rq_total)
  stop "$pid"
  n=$(counted "$1" "$wrk_n" "$before" "$after")
  # The dump of the measured interval is the one described "measured".
  local f
  f=$(grep -l '^desc: Trigger: .*measured' "$OUT"/callgrind.$2.out* | head -1)
  local ir
  ir=$(awk '/^summary:/ {print $2}' "$f")
  cp "$f" "$OUT/callgrind.$2.measured"
  awk -v ir="$ir" -v n="$n" -v l="$2" 'BEGIN{printf "%-10s user instructions/request %9.0f   (%d requests, callgrind)\n", l, ir / n, n}'
}

# Phase 2: native; syscalls per request and timed CPU for reference.
SYSCALLS=(read readv recvfrom recvmsg write writev sendto sendmsg epoll_wait epoll_pwait epoll_ctl
  timerfd_settime clock_gettime getsockopt setsockopt)
kernel_phase() {  # bin, label
  local pid before=0 after=0 n wrk_n t0 t1 events perf_pid
  target "$1"
  taskset -c 1 "${CMD[@]}" >"$TMP/native.$2.log" 2>&1 &
  pid=$!
  PIDS+=($pid)
  wait_http "$READY_URL" "$2"
  load 2 >/dev/null
  is_remora "$1" && before=$(rq_total)
  t0=$(awk '{print $14, $15}' <(sed 's/.*) /x x /' "/proc/$pid/stat"))
  events=raw_syscalls:sys_enter
  for s in "${SYSCALLS[@]}"; do events+=",syscalls:sys_enter_$s"; done
  perf stat -x, -o "$OUT/perf.$2.csv" -e "$events" -p "$pid" &
  perf_pid=$!
  sleep 0.2
  wrk_n=$(load "$SECS")
  kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
  t1=$(awk '{print $14, $15}' <(sed 's/.*) /x x /' "/proc/$pid/stat"))
  is_remora "$1" && after=$(rq_total)
  stop "$pid"
  n=$(counted "$1" "$wrk_n" "$before" "$after")
  awk -F, -v n="$n" -v l="$2" '
    $3 == "raw_syscalls:sys_enter" { total = $1 }
    $3 ~ /^syscalls:sys_enter_/ && $1 + 0 > 0 { sub("syscalls:sys_enter_", "", $3); detail = detail sprintf(" %s %.2f", $3, $1 / n) }
    END { printf "%-10s syscalls/request %.3f  (%s)\n", l, total / n, substr(detail, 2) }' "$OUT/perf.$2.csv"
  awk -v a="$t0" -v b="$t1" -v c="$(getconf CLK_TCK)" -v n="$n" -v l="$2" 'BEGIN{
    split(a, x, " "); split(b, y, " ");
    printf "%-10s timed CPU µs/request: user %.2f  sys %.2f  (noisy; %d requests)\n", l,
      (y[1] - x[1]) / c / n * 1e6, (y[2] - x[2]) / c / n * 1e6, n }'
}

i=0
for bin in "${BINS[@]}"; do
  label=$( ((${#BINS[@]} == 2)) && { ((i == 0)) && echo A || echo B; } || echo "bin$i")
  echo "$label = $bin" >&2
  user_phase "$bin" "$label"
  kernel_phase "$bin" "$label"
  i=$((i + 1))
done
if ((PEERS)); then
  for peer in haproxy nginx; do
    user_phase "$peer" "$peer"
    kernel_phase "$peer" "$peer"
  done
fi
echo "callgrind profiles: $OUT/callgrind.<label>.measured (callgrind_annotate --inclusive=yes FILE)" >&2
