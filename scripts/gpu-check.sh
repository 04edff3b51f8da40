#!/usr/bin/env bash
# The GPU check (docs/cuda.md), in one go on a machine with a CUDA device (< 8 min on an H200):
#  1. builds the CLI and pthsafe_gpu_check (cmake, ninja, nvcc). The configure step needs libzip,
#     zlib and doctest: a machine without them must have them carried (docs/cuda.md);
#  2. runs the device fixture check (every fixture bit-exact on cuda:0);
#  3. makes an 8 GiB float16 state_dict with torch and times, cold-ish (page cache dropped where
#     allowed) and warm: pthsafe load --map-location cuda:0, torch.load(map_location="cuda:0")
#     with and without mmap=True, and the pinned host-to-device limit (torch pinned tensor
#     .to("cuda", non_blocking=True) + synchronize). Prints a table of GiB/s and ratios and writes
#     it to ${OUT:-.}/gpu-check.txt.
# Usage: scripts/gpu-check.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-gpu}
out=${OUT:-$root}
py=${PYTHON:-python3}
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)

cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DPTHSAFE_CUDA=ON \
  -DPTHSAFE_BUILD_TESTS=ON -DPTHSAFE_INSTALL=OFF >"$out/gpu-check-configure.log" 2>&1 \
  || { echo "configure failed (libzip/zlib/doctest are required to build the tests):"; tail -20 "$out/gpu-check-configure.log"; exit 1; }
cmake --build "$build" -j"$(nproc)" --target pthsafe_cli pthsafe_gpu_check >"$out/gpu-check-build.log" 2>&1 \
  || { tail -40 "$out/gpu-check-build.log"; exit 1; }

echo "== device fixtures"
"$build/tests/pthsafe_gpu_check" | tee "$out/gpu-check-fixtures.txt"

echo "== 8 GiB benchmark"
work=${WORK_DIR:-/tmp/pthsafe-gpu-check}
mkdir -p "$work"
ckpt=$work/big.pt
"$py" - "$ckpt" <<'PY'
import os, sys, torch
path = sys.argv[1]
if not os.path.exists(path):
    g = torch.Generator().manual_seed(0)
    sd = {f"layer{i}.weight": torch.randn(8192, 8192, generator=g, dtype=torch.float32).half() for i in range(64)}
    torch.save(sd, path)  # 64 x 128 MiB = 8 GiB
PY

drop() {  # cold-ish: evict the file from the page cache where we may
  sync; (echo 1 > /proc/sys/vm/drop_caches) 2>/dev/null || "$py" -c "import os,sys; fd=os.open(sys.argv[1],os.O_RDONLY); os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED)" "$ckpt"
}
pthsafe_secs() { "$build/pthsafe" load --json --map-location cuda:0 "$ckpt" | "$py" -c "import json,sys; print(json.load(sys.stdin)['seconds'])"; }
torch_secs() {
  "$py" - "$ckpt" "$1" <<'PY'
import sys, time, torch
path, mode = sys.argv[1], sys.argv[2]
torch.cuda.init(); torch.empty(1, device="cuda:0"); torch.cuda.synchronize()
t = time.perf_counter()
if mode == "pinned":
    x = torch.empty(8 << 30, dtype=torch.uint8).pin_memory()
    t = time.perf_counter(); y = x.to("cuda:0", non_blocking=True); torch.cuda.synchronize()
else:
    sd = torch.load(path, map_location="cuda:0", mmap=(mode == "mmap"), weights_only=True); torch.cuda.synchronize()
print(time.perf_counter() - t)
PY
}
bytes=$(stat -c %s "$ckpt")
table=$out/gpu-check.txt
{
  echo "8 GiB checkpoint ($bytes bytes), $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
  printf "%-34s %10s %10s\n" "method" "cold GiB/s" "warm GiB/s"
  declare -A warm
  for m in pinned pthsafe torch torch_mmap; do
    drop; case $m in pthsafe) c=$(pthsafe_secs);; torch) c=$(torch_secs plain);; torch_mmap) c=$(torch_secs mmap);; pinned) c=$(torch_secs pinned);; esac
    case $m in pthsafe) w=$(pthsafe_secs);; torch) w=$(torch_secs plain);; torch_mmap) w=$(torch_secs mmap);; pinned) w=$(torch_secs pinned);; esac
    warm[$m]=$w
    printf "%-34s %10.2f %10.2f\n" "$m" "$("$py" -c "print($bytes/$c/2**30)")" "$("$py" -c "print($bytes/$w/2**30)")"
  done
  echo "warm pthsafe / pinned limit: $("$py" -c "print(round(${warm[pinned]}/${warm[pthsafe]}, 3))") (target >= 0.85)"
  echo "warm pthsafe vs torch.load:  $("$py" -c "print(round(${warm[torch]}/${warm[pthsafe]}, 2))")x (target >= 3x)"
  echo "warm pthsafe vs torch mmap:  $("$py" -c "print(round(${warm[torch_mmap]}/${warm[pthsafe]}, 2))")x"
} | tee "$table"
