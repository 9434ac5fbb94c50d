#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (default 20) and fails if any of them finds a crash.
#
# Configures the `fuzz` CMake preset (clang, ASan+UBSan, build/fuzz), builds only the fuzz targets, and runs each on
# a scratch copy of its seed corpus (fuzz/corpus/<target>/ stays as committed; new inputs are kept in
# build/fuzz/corpus-run/<target>/ for inspection). Crash inputs land in build/fuzz/artifacts/<target>/.
# Prints libFuzzer's final stats (executions, speed, coverage) per target.
# Usage: scripts/fuzz.sh [SECONDS]      e.g. scripts/fuzz.sh 300
set -euo pipefail

SECONDS_PER_TARGET="${1:-20}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || (( SECONDS_PER_TARGET < 1 )); then
  echo "usage: $0 [SECONDS]" >&2
  exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build/fuzz"
TARGETS=(fuzz_wire fuzz_routes fuzz_hmac fuzz_seal)

cd "$ROOT"
cmake --preset fuzz >/dev/null
cmake --build "$BUILD" --target "${TARGETS[@]}"

status=0
summary=()
for t in "${TARGETS[@]}"; do
  work="$BUILD/corpus-run/$t"
  art="$BUILD/artifacts/$t"
  rm -rf "$work"
  mkdir -p "$work" "$art"
  cp "$ROOT/fuzz/corpus/$t/"* "$work/"
  log="$BUILD/$t.log"
  echo "== $t: ${SECONDS_PER_TARGET}s"
  # -timeout: a single input taking more than 10 s is a hang; -rss_limit_mb bounds memory.
  if "$BUILD/bin/$t" -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$art/" "$work" >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (exit $?; see $log and $art/)"
    status=1
    grep -E "ERROR|FUZZ_CHECK|SUMMARY" "$log" | head -20 || true
  fi
  done_line="$(grep -E '^Done [0-9]+ runs' "$log" | tail -1 || true)"
  execs="$(grep -E 'stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1 || true)"
  speed="$(grep -E 'stat::average_exec_per_sec' "$log" | awk '{print $2}' | tail -1 || true)"
  cov="$(grep -E '^#[0-9]+.*(DONE|INITED)' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)"
  echo "   ${done_line:-no final stats line}"
  summary+=("$t: $result, executions=${execs:-?} exec/s=${speed:-?} ${cov} corpus=$(ls "$work" | wc -l) files")
done

echo "== summary"
printf '   %s\n' "${summary[@]}"
exit "$status"
