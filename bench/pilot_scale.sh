#!/usr/bin/env bash
# remora-pilot at mesh scale (issue 7): S services x E endpoints in a config directory, P simulated
# Istio sidecars on ADS (bench/ads_load: one stream and connection each, subscribed to everything,
# decoding every response and ACKing it), then C successive endpoint changes, each an EndpointSlice
# file rewritten and awaited before the next. Convergence = from just before the file is renamed
# into place to the last proxy's ACK of an EDS response carrying the change, so it includes
# remora-pilot's detection of the file (the config dir is polled every 200 ms). Prints p50/p99
# convergence, the initial full-sync time, pilot CPU seconds and RSS (VmHWM from /proc).
#
#   bench/pilot_scale.sh [--services 1000] [--endpoints 10] [--proxies 2000] [--changes 100]
#                        [--namespaces 10] [--routed 10]
#
# Targets: convergence p99 < 1 s, pilot peak RSS < 1 GiB. Everything runs on loopback; the pilot
# and the generator are killed on exit. REMORA_BUILD selects the build dir (default ./build).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

BUILD=${REMORA_BUILD:-$PWD/build}
SERVICES=1000 ENDPOINTS=10 PROXIES=2000 CHANGES=100 NAMESPACES=10 ROUTED=10
while [[ $# -gt 0 ]]; do
  case "$1" in
    --services) SERVICES=$2 ;;
    --endpoints) ENDPOINTS=$2 ;;
    --proxies) PROXIES=$2 ;;
    --changes) CHANGES=$2 ;;
    --namespaces) NAMESPACES=$2 ;;
    --routed) ROUTED=$2 ;;
    *) echo "usage: $0 [--services N] [--endpoints N] [--proxies N] [--changes N] [--namespaces N] [--routed N]" >&2; exit 2 ;;
  esac
  shift 2
done
for bin in remora-pilot ads_load; do
  [[ -x $BUILD/bin/$bin ]] || { echo "bench: $BUILD/bin/$bin missing (make build)" >&2; exit 1; }
done
# One socket per proxy on each side.
ulimit -n "$(ulimit -Hn)"
(( $(ulimit -n) > PROXIES + 256 )) || { echo "bench: open-file limit $(ulimit -n) too low for $PROXIES proxies" >&2; exit 1; }

SHAPE=(--services "$SERVICES" --endpoints "$ENDPOINTS" --namespaces "$NAMESPACES" --routed "$ROUTED")
MESH=$BENCH_TMP/mesh
"$BUILD/bin/ads_load" write-config --dir "$MESH" "${SHAPE[@]}"

"$BUILD/bin/remora-pilot" --config-dir "$MESH" --grpcAddr 127.0.0.1:0 --monitoringAddr 127.0.0.1:0 \
  -l "${PILOT_LOG_LEVEL:-warn}" >"$BENCH_TMP/pilot.out" 2>"$BENCH_TMP/pilot.log" &
PILOT=$!
PIDS+=("$PILOT")
XDS_PORT=
for _ in $(seq 600); do  # bounded: 60 s to load the mesh and listen
  XDS_PORT=$(sed -n 's/.*"xds_port": \([0-9]*\).*/\1/p' "$BENCH_TMP/pilot.out")
  [[ -n $XDS_PORT ]] && break
  kill -0 "$PILOT" 2>/dev/null || { cat "$BENCH_TMP/pilot.log" >&2; echo "bench: remora-pilot exited" >&2; exit 1; }
  sleep 0.1
done
[[ -n $XDS_PORT ]] || { echo "bench: remora-pilot not listening after 60 s" >&2; exit 1; }
MON_PORT=$(sed -n 's/.*"monitoring_port": \([0-9]*\).*/\1/p' "$BENCH_TMP/pilot.out")

echo "pilot_scale: $SERVICES services x $ENDPOINTS endpoints, $PROXIES proxies, $CHANGES endpoint changes" >&2
"$BUILD/bin/ads_load" run --xds "127.0.0.1:$XDS_PORT" --dir "$MESH" "${SHAPE[@]}" \
  --proxies "$PROXIES" --changes "$CHANGES" --pilot-pid "$PILOT" >"$BENCH_TMP/result.json" &
LOADGEN=$!
PIDS+=("$LOADGEN")
if ! wait "$LOADGEN"; then
  echo "bench: ads_load failed; pilot log tail:" >&2
  tail -20 "$BENCH_TMP/pilot.log" >&2
  exit 1
fi
curl -s "http://127.0.0.1:$MON_PORT/metrics" >"$BENCH_TMP/metrics.txt" || true

/usr/bin/python3 - "$BENCH_TMP/result.json" "$BENCH_TMP/metrics.txt" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
pushes = [l for l in open(sys.argv[2]) if l.startswith("pilot_xds_pushes{")]
print(f"remora-pilot scale: {r['services']} services x {r['endpoints']} endpoints, {r['proxies']} proxies (SotW ADS)")
print(f"  initial full sync        {r['initial_sync_s']:.2f} s   (pilot CPU {r['pilot_cpu_sync_s']:.1f} s)")
print(f"  endpoint change converge p50 {r['convergence_p50_s']*1000:.0f} ms   p99 {r['convergence_p99_s']*1000:.0f} ms   "
      f"max {r['convergence_max_s']*1000:.0f} ms   over {r['changes']} changes   (target p99 < 1000 ms)")
print(f"  pilot CPU over the changes {r['pilot_cpu_changes_s']:.1f} s ({r['pilot_cpu_changes_s']/max(r['changes'],1)*1000:.0f} ms per change)")
print(f"  pilot RSS synced {r['pilot_rss_synced_mib']:.0f} MiB, peak (VmHWM) {r['pilot_peak_rss_mib']:.0f} MiB   (target < 1024 MiB)")
print(f"  streams the generator had to reopen: {r.get('reconnects', 0)}")
for l in pushes: print("  " + l.strip())
print(json.dumps(r))
PYEOF
