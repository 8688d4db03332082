# Shared by the benchmark scripts (sourced): a temp dir and process list cleaned up on exit,
# free loopback ports, CPU ticks of a process, and the median of a list of numbers.

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
