#!/usr/bin/env bash
# Installs, builds, and runs the main job on the small checkpoint that ships in the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPTHSAFE_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
ck=tests/fixtures/state_dict.pth
echo "\$ pthsafe inspect $ck"
build/pthsafe inspect "$ck"
echo
echo "\$ pthsafe scan $ck tests/fixtures/python_values_unsafe.pt"
build/pthsafe scan "$ck" tests/fixtures/python_values_unsafe.pt || echo "(exit $? : one file is unsafe)"
echo
echo "\$ pthsafe load --touch $ck"
build/pthsafe load --touch "$ck"
