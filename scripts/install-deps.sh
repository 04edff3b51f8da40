#!/usr/bin/env bash
# Installs what pthsafe needs to build and test, from Debian's packages. Idempotent; silent when
# everything is already present. python3-torch + python3-numpy are Debian's torch 1.13, the first
# torch the differential suites compare with (/usr/bin/python3); python3-venv lets
# scripts/setup-torch-venv.sh make the venv of the second (pip's torch 2.x); python3-pytest runs the
# Python package's tests under Debian's interpreter too; python3-dev has the headers that building
# the Python package (`pip install .`, PTHSAFE_PYTHON) needs with Debian's interpreter.
set -euo pipefail
# `install-deps.sh build` installs only what building and running the CLI needs (scripts/demo.sh).
pkgs=(cmake g++ make pkg-config libzip-dev zlib1g-dev)
if [ "${1:-all}" != build ]; then
  pkgs+=(clang clang-tidy libclang-rt-14-dev python3 libxtensor-dev xtl-dev libxsimd-dev doctest-dev libbenchmark-dev
         python3-torch python3-numpy python3-pytest python3-venv python3-dev time git)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
