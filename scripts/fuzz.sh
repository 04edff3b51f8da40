#!/usr/bin/env bash
# Runs every libFuzzer harness for SECONDS (default 60) under ASan+UBSan over its corpus
# (fuzz/corpus, the fixtures, the hostile corpus, the regression files) with fuzz/pthsafe.dict.
# BUILD_DIR (default build-fuzz) is configured with clang if it has no harnesses yet.
# Exits non-zero when a harness finds a crash, leak or sanitizer report (inputs in fuzz/crashes/).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
dir="${2:-build-fuzz}"
scripts/install-deps.sh
if [ ! -x "$dir/fuzz/fuzz_scan" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPTHSAFE_FUZZ=ON -DPTHSAFE_SANITIZE=ON \
    -DPTHSAFE_BUILD_TESTS=OFF -DPTHSAFE_BUILD_CLI=OFF >/dev/null
  cmake --build "$dir" -j"$(nproc)" >/dev/null
fi
mkdir -p fuzz/crashes
status=0
for h in fuzz_zip fuzz_unpickler fuzz_load fuzz_scan; do
  work="$dir/corpus_$h"
  mkdir -p "$work"
  if "$dir/fuzz/$h" -max_total_time="$secs" -dict=fuzz/pthsafe.dict -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
      -artifact_prefix=fuzz/crashes/ -print_final_stats=1 "$work" fuzz/corpus tests/fixtures tests/hostile/files \
      tests/data/regress > "$work.log" 2>&1; then
    echo "$h: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$work.log" | grep -o '[0-9]*$') executions in ${secs}s, clean"
  else
    echo "$h: FAILED (see $work.log and fuzz/crashes/)"
    grep -E "ERROR|SUMMARY" "$work.log" | head -5 || true
    status=1
  fi
done
exit $status
