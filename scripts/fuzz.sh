#!/usr/bin/env bash
# Runs every libFuzzer harness for SECONDS (default 60) under ASan+UBSan over its corpus
# (fuzz/corpus, the fixtures, the hostile corpus, the regression files) with fuzz/pthsafe.dict.
# BUILD_DIR (default build-fuzz) is configured with clang if it is not configured yet, and
# brought up to date before the runs.
# Exits non-zero when a harness finds a crash, leak or sanitizer report (inputs in fuzz/crashes/).
# A campaign by execution count instead of time writes its figures into docs/results.md
# (section "fuzzing"; FUZZ_REPORT=0 skips that):
#   FUZZ_RUNS=10000000 FUZZ_MAX_LEN=4096 FUZZ_TIMEOUT=5 scripts/fuzz.sh
# FUZZ_HARNESSES (default all five) picks which harnesses run, e.g. "fuzz_load fuzz_scan".
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
dir="${2:-build-fuzz}"
max_len="${FUZZ_MAX_LEN:-65536}"
timeout="${FUZZ_TIMEOUT:-10}"
if [ -n "${FUZZ_RUNS:-}" ]; then budget=(-runs="$FUZZ_RUNS"); what="$FUZZ_RUNS runs"; else budget=(-max_total_time="$secs"); what="${secs}s"; fi
scripts/install-deps.sh
if [ ! -f "$dir/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPTHSAFE_FUZZ=ON -DPTHSAFE_SANITIZE=ON \
    -DPTHSAFE_BUILD_TESTS=OFF -DPTHSAFE_BUILD_CLI=OFF >/dev/null
fi
cmake --build "$dir" -j"$(nproc)" >/dev/null
mkdir -p fuzz/crashes
status=0
for h in ${FUZZ_HARNESSES:-fuzz_zip fuzz_unpickler fuzz_load fuzz_scan fuzz_json}; do
  work="$dir/corpus_$h"
  mkdir -p "$work"
  if "$dir/fuzz/$h" "${budget[@]}" -dict=fuzz/pthsafe.dict -rss_limit_mb=2048 -timeout="$timeout" -max_len="$max_len" \
      -artifact_prefix=fuzz/crashes/ -print_final_stats=1 "$work" fuzz/corpus tests/fixtures tests/hostile/files \
      tests/data/regress > "$work.log" 2>&1; then
    echo "$h: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$work.log" | grep -o '[0-9]*$') executions ($what), clean"
  else
    echo "$h: FAILED (see $work.log and fuzz/crashes/)"
    grep -E "ERROR|SUMMARY" "$work.log" | head -5 || true
    status=1
  fi
done
if [ -n "${FUZZ_RUNS:-}" ] && [ "${FUZZ_REPORT:-1}" = 1 ]; then
  python3 scripts/fuzz_report.py "$dir" \
    "FUZZ_RUNS=$FUZZ_RUNS FUZZ_MAX_LEN=$max_len FUZZ_TIMEOUT=$timeout FUZZ_HARNESSES=\"${FUZZ_HARNESSES:-fuzz_zip fuzz_unpickler fuzz_load fuzz_scan}\" scripts/fuzz.sh" \
    ${FUZZ_HARNESSES:-fuzz_zip fuzz_unpickler fuzz_load fuzz_scan} >/dev/null
fi
exit $status
