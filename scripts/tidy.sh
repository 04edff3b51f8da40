#!/usr/bin/env bash
# Runs clang-tidy (checks in .clang-tidy, every finding an error) over every source file of the
# library and the CLI, using the compile commands of a configured build directory, and over the
# Python extension's sources (python/src) with those of a build that has PTHSAFE_PYTHON on (the
# sanitizer build cannot: an ASan extension does not load into a plain Python).
#   scripts/tidy.sh [BUILD_DIR [PYTHON_BUILD_DIR]]   default: build-tidy (configured here with clang if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build-tidy}"
if [ ! -f "$dir/compile_commands.json" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DPTHSAFE_BUILD_TESTS=OFF >/dev/null
fi
tidy="$(command -v clang-tidy || command -v clang-tidy-14)"
files=$(find src -name '*.cpp' | sort)
# One clang-tidy per file, as many at once as there are cores; any finding fails the run.
printf '%s\n' $files | xargs -P"$(nproc)" -n1 "$tidy" -p "$dir" --quiet 2>/dev/null
echo "clang-tidy: no findings in $(printf '%s\n' $files | wc -l) files"
if [ -n "${2:-}" ]; then
  py_files=$(find python/src -name '*.cpp' | sort)
  grep -q "python/src/module.cpp" "$2/compile_commands.json" \
    || { echo "clang-tidy: $2 has no compile commands for python/src (PTHSAFE_PYTHON, CMAKE_EXPORT_COMPILE_COMMANDS)"; exit 1; }
  printf '%s\n' $py_files | xargs -P"$(nproc)" -n1 "$tidy" -p "$2" --quiet 2>/dev/null
  echo "clang-tidy: no findings in $(printf '%s\n' $py_files | wc -l) Python extension files"
fi
