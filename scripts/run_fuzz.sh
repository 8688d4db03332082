#!/usr/bin/env bash
# Runs every libFuzzer target (*_fuzz) in BIN_DIR for SECONDS each, starting from a copy of its
# committed seed corpus in fuzz/corpus/<target>/. New inputs go to a temporary directory so the
# committed corpus never changes behind anyone's back; crash artifacts are kept in
# $FUZZ_ARTIFACTS (default: fuzz-artifacts/) for reproduction. Exits non-zero if any target fails.
set -u -o pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BIN_DIR SECONDS" >&2
  exit 2
fi
bin_dir=$1
seconds=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
artifacts=${FUZZ_ARTIFACTS:-$repo/fuzz-artifacts}
work=$(mktemp -d "${TMPDIR:-/tmp}/remora-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

shopt -s nullglob
targets=("$bin_dir"/*_fuzz)
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "no *_fuzz binaries in $bin_dir" >&2
  exit 2
fi

mkdir -p "$artifacts"
failed=0
for target in "${targets[@]}"; do
  [[ -x $target ]] || continue
  name=$(basename "$target")
  corpus=$work/$name
  mkdir -p "$corpus"
  if [[ -d $repo/fuzz/corpus/$name ]]; then
    cp "$repo/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null || true
  fi
  log=$work/$name.log
  "$target" "$corpus" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$name-" >"$log" 2>&1
  rc=$?
  execs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  if [[ $rc -eq 0 ]]; then
    echo "PASS $name: ${execs:-?} runs in ${seconds}s, coverage ${cov:-?}, corpus $(ls "$corpus" | wc -l)"
  else
    failed=1
    echo "FAIL $name (exit $rc); log tail:"
    tail -n 30 "$log" | sed 's/^/    /'
  fi
done
exit $failed
