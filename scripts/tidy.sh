#!/usr/bin/env bash
# Runs clang-tidy (checks in .clang-tidy, every finding an error) over every source file of the
# library and the CLI, using the compile commands of a configured build directory.
#   scripts/tidy.sh [BUILD_DIR]      default: build-tidy (configured here with clang if missing)
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
