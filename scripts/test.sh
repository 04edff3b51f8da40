#!/usr/bin/env bash
# Installs, builds and runs the whole test suite: a plain build (gcc) with every test, then a
# clang build under AddressSanitizer + UndefinedBehaviorSanitizer that runs the suite again, then
# clang-tidy, then fuzzes each libFuzzer harness for 60 s (FUZZ_SECONDS overrides). Both builds
# treat every compiler warning as an error (PTHSAFE_WERROR).
# The differential suites run against two real torches: Debian's 1.13 (/usr/bin/python3, from
# install-deps.sh) and pip's 2.x (the cached venv of setup-torch-venv.sh). Both are required: a
# missing torch fails their tests instead of skipping them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
torch2_python="$(scripts/setup-torch-venv.sh)"
jobs="$(nproc)"
# The plain build also builds the Python package (PTHSAFE_PYTHON, with the venv's nanobind) and
# runs its pytest suite under both interpreters.
cmake -S . -B build -DPTHSAFE_BUILD_TESTS=ON -DPTHSAFE_FUZZ=ON -DPTHSAFE_WERROR=ON \
  -DPTHSAFE_PYTHON=ON -DPython_EXECUTABLE="$torch2_python" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DPTHSAFE_TORCH_PYTHONS="/usr/bin/python3;$torch2_python" >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
CC=clang CXX=clang++ cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPTHSAFE_SANITIZE=ON \
  -DPTHSAFE_BUILD_TESTS=ON -DPTHSAFE_FUZZ=ON -DPTHSAFE_WERROR=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
cmake --build build-asan -j"$jobs"
# The differential suite runs torch and the resource bounds measure RSS (meaningless under ASan's
# shadow memory); the plain run above covers both.
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$jobs" -E "differential|resource_bounds")
# clang-tidy over every source file (.clang-tidy: the checks and why), zero findings allowed; the
# Python extension's with the plain build's compile commands.
scripts/tidy.sh build-asan build
scripts/fuzz.sh "${FUZZ_SECONDS:-60}" build-asan
