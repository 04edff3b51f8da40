#!/usr/bin/env bash
# Creates, or reuses, the virtual environment with pip's torch 2.x that the differential suites
# compare pthsafe with (the second torch; Debian's 1.13 is the first): ${PTHSAFE_VENV:-$HOME/.cache/pthsafe-venv}.
# Idempotent and silent when the venv already imports torch, numpy, safetensors, pytest, nanobind,
# scikit-build-core (these two build the Python package, python/) and pre-commit (the hook's test);
# prints the interpreter's path on stdout either way (scripts/test.sh passes it to CMake).
#
# Environment:
#   PTHSAFE_VENV            where the venv lives (default ~/.cache/pthsafe-venv; cache it in CI)
#   PTHSAFE_VENV_PYTHON     interpreter that creates it (default python3; needs the venv module)
#   PTHSAFE_TORCH_SPEC      the torch requirement (default torch==2.15.0, the version the 2.x
#                           fixtures were made with, so that their regeneration check can pass)
#   PTHSAFE_TORCH_INDEX_URL an extra pip index, e.g. PyTorch's CPU-only wheels, which are a few
#                           hundred MB instead of the ~3 GB of CUDA wheels PyPI's torch pulls in
#
# Cost on a fresh machine: PyPI's torch 2.15 resolves to ~3.0 GB of wheels (torch 539 MB, cuDNN
# 519 MB, cuBLAS 405 MB, triton 286 MB, the other CUDA libraries ~1.2 GB) and 5.4 GB installed;
# measured with `pip install --dry-run --report` and the wheels' Content-Length.
set -euo pipefail
venv="${PTHSAFE_VENV:-$HOME/.cache/pthsafe-venv}"
py="$venv/bin/python"
if [ -x "$py" ] && "$py" -c "import torch, numpy, safetensors, pytest, nanobind, scikit_build_core, pre_commit" >/dev/null 2>&1; then
  echo "$py"
  exit 0
fi
echo "setup-torch-venv: creating $venv (pip's torch 2.x, several GB on a fresh machine)" >&2
"${PTHSAFE_VENV_PYTHON:-python3}" -m venv "$venv" >&2
extra=()
[ -n "${PTHSAFE_TORCH_INDEX_URL:-}" ] && extra=(--extra-index-url "$PTHSAFE_TORCH_INDEX_URL")
"$py" -m pip install -q --disable-pip-version-check "${extra[@]}" \
  "${PTHSAFE_TORCH_SPEC:-torch==2.15.0}" numpy safetensors pytest nanobind scikit-build-core pre-commit >&2
"$py" -c "import torch, numpy, safetensors, pytest, nanobind, scikit_build_core, pre_commit" >&2
echo "$py"
