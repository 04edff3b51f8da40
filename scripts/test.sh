#!/usr/bin/env bash
# Installs, builds and runs the whole test suite twice: a plain build, then a build under
# AddressSanitizer + UndefinedBehaviorSanitizer (which also replays the fuzz corpora).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs="$(nproc)"
cmake -S . -B build -DPTHSAFE_BUILD_TESTS=ON -DPTHSAFE_FUZZ=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPTHSAFE_SANITIZE=ON -DPTHSAFE_BUILD_TESTS=ON -DPTHSAFE_FUZZ=ON >/dev/null
cmake --build build-asan -j"$jobs"
# The differential suite runs torch and the resource bounds measure RSS (meaningless under ASan's
# shadow memory); the plain run above covers both.
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j"$jobs" -E "differential|resource_bounds")
