#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (ASan+UBSan) and runs each for N seconds
# (default 60) over its corpus: fuzz/corpus + tests/fixtures. New crashes land in fuzz/crashes/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
scripts/install-deps.sh
command -v clang++ >/dev/null || { apt-get install -y -qq clang libclang-rt-14-dev >/dev/null; }
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPTHSAFE_FUZZ=ON -DPTHSAFE_SANITIZE=ON \
  -DPTHSAFE_BUILD_TESTS=OFF -DPTHSAFE_BUILD_CLI=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
mkdir -p fuzz/crashes
for h in fuzz_zip fuzz_unpickler fuzz_load fuzz_scan; do
  work="build-fuzz/corpus_$h"
  mkdir -p "$work"
  echo "== $h: ${secs}s"
  build-fuzz/fuzz/$h -max_total_time="$secs" -dict=fuzz/pthsafe.dict -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix=fuzz/crashes/ -print_final_stats=1 "$work" fuzz/corpus tests/fixtures 2>&1 | grep -E "stat::number_of_executed_units|ERROR|SUMMARY|Done" || true
done
