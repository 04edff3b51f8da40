#!/usr/bin/env bash
# shellcheck disable=SC2317  # the secs_* functions are called through an array
# The GPU check (docs/cuda.md "Running the GPU check"), in one go on a machine with a CUDA device:
#  1. finds the binaries: STAGE_DIR (default gpu-stage/, made by scripts/gpu-stage.sh on the
#     build machine and carried along) when it exists, with LD_LIBRARY_PATH=STAGE_DIR/lib;
#     otherwise configures and builds BUILD_DIR (needs cmake, a compiler, nvcc, libzip, zlib,
#     doctest) and stages it there;
#  2. runs the device fixture check (every fixture bit-exact on cuda:0);
#  3. makes a SIZE_GIB (default 8) float16 state_dict: with torch.save when torch imports,
#     otherwise with pthsafe's writer (bin/pthsafe_gpu_check_input; same file format), checks it
#     on the host (pthsafe verify: structure and every CRC), then times cold-ish (page cache
#     dropped where allowed) and warm:
#     the pinned host-to-device limit (bin/h2d_limit: the loader's copies, 64 MiB windows from 3
#     pinned buffers on 2 streams, one synchronize), pthsafe load --map-location cuda:0, and,
#     when torch with CUDA is there, torch.load(map_location="cuda:0") with and without
#     mmap=True. Prints a table of GiB/s and ratios and writes it to ${OUT:-.}/gpu-check.txt.
# Needs no Python and no network. Exit: 0 all ran and the fixtures passed, 1 a failure,
# 77 no CUDA device (the input was still made and loaded on the host; nothing measured).
# Environment: STAGE_DIR, SIZE_GIB, WORK_DIR (where the input goes, default
# /tmp/pthsafe-gpu-check), OUT, PYTHON (default python3), INPUT=auto|torch|pthsafe.
# Usage: scripts/gpu-check.sh [BUILD_DIR]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
stage=${STAGE_DIR:-$root/gpu-stage}
out=${OUT:-$root}
py=${PYTHON:-python3}
size_gib=${SIZE_GIB:-8}
work=${WORK_DIR:-/tmp/pthsafe-gpu-check}
mkdir -p "$out" "$work"

# ---- 1. binaries
if [[ ! -d $stage/bin ]]; then
  build=${1:-$root/build-gpu}
  echo "== no stage at $stage: configuring and building $build"
  gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DPTHSAFE_CUDA=ON \
    -DPTHSAFE_BUILD_TESTS=ON -DPTHSAFE_INSTALL=OFF >"$out/gpu-check-configure.log" 2>&1 \
    || { echo "configure failed (libzip/zlib/doctest are required to build the tests; or stage them: scripts/gpu-stage.sh):"; tail -20 "$out/gpu-check-configure.log"; exit 1; }
  cmake --build "$build" -j"$(nproc)" --target pthsafe_cli pthsafe_gpu_check pthsafe >"$out/gpu-check-build.log" 2>&1 \
    || { tail -40 "$out/gpu-check-build.log"; exit 1; }
  "$root/scripts/gpu-stage.sh" "$build" "$stage" >"$out/gpu-check-stage.log" 2>&1 \
    || { tail -20 "$out/gpu-check-stage.log"; exit 1; }
fi
bin=$stage/bin
export LD_LIBRARY_PATH=$stage/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
for b in pthsafe pthsafe_gpu_check pthsafe_gpu_check_input h2d_limit; do
  [[ -x $bin/$b ]] || { echo "$bin/$b missing: rerun scripts/gpu-stage.sh"; exit 1; }
  if ldd "$bin/$b" 2>/dev/null | grep -q 'not found'; then echo "$bin/$b:"; ldd "$bin/$b" | grep 'not found'; exit 1; fi
done
[[ -f $stage/MANIFEST ]] && sed -n '1,4p' "$stage/MANIFEST"
status=0

# ---- 2. device fixtures
echo "== device fixtures"
"$bin/pthsafe_gpu_check" "$root/tests/fixtures" 2>&1 | tee "$out/gpu-check-fixtures.txt"
rc=${PIPESTATUS[0]}
device=yes
case $rc in
  0) ;;
  77) device=no ;;
  *) echo "device fixture check FAILED (exit $rc)"; status=1 ;;
esac

# ---- 3. benchmark input
label="$size_gib GiB"
echo "== $label benchmark"
mib=$(awk -v g="$size_gib" 'BEGIN { m = g * 1024; if (m < 0.015625) exit 1; printf "%.6f", m }') \
  || { echo "SIZE_GIB=$size_gib is too small"; exit 1; }
ckpt=$work/big-${size_gib}g.pt
torch_ok=no torch_cuda=no
if command -v "$py" >/dev/null && "$py" -c "import torch" 2>/dev/null; then
  torch_ok=yes
  "$py" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null && torch_cuda=yes
fi
input=${INPUT:-auto}
[[ $input == auto ]] && { [[ $torch_ok == yes ]] && input=torch || input=pthsafe; }
if [[ ! -s $ckpt ]]; then
  echo "writing $ckpt with $input"
  t0=$(date +%s.%N)
  if [[ $input == torch ]]; then
    "$py" - "$ckpt.tmp" "$mib" <<'PY' || { echo "torch.save failed"; exit 1; }
import sys, torch
path, rows = sys.argv[1], int(float(sys.argv[2]) * 2**20) // (8192 * 2)
g = torch.Generator().manual_seed(0)
sd, i = {}, 0
while rows > 0:  # the layout of bench/gpu_check_input.cpp: 8192 x 8192 float16, the last fewer rows
    n = min(rows, 8192)
    sd[f"layer{i}.weight"] = torch.randn(n, 8192, generator=g, dtype=torch.float32).half()
    rows, i = rows - n, i + 1
torch.save(sd, path)
PY
    mv "$ckpt.tmp" "$ckpt"
  else
    "$bin/pthsafe_gpu_check_input" "$ckpt" "$mib" || { echo "pthsafe_gpu_check_input failed"; exit 1; }
  fi
  echo "$input" >"$ckpt.by"
  echo "written in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
fi
input=$(cat "$ckpt.by" 2>/dev/null || echo "an earlier run")
bytes=$(stat -c %s "$ckpt")
"$bin/pthsafe" verify "$ckpt" >/dev/null || { echo "the input does not verify (pthsafe verify $ckpt)"; exit 1; }
host=$("$bin/pthsafe" load --json --mmap "$ckpt") || { echo "the input does not load on the host"; exit 1; }
tensor_bytes=$(sed -E 's/.*"bytes":([0-9]+).*/\1/' <<<"$host")
echo "input: $ckpt, $bytes bytes, host load: $host"

# ---- 4. timings (each prints seconds, or fails with its reason on stderr)
drop() {  # cold-ish: evict the file from the page cache where we may
  sync
  (echo 1 >/proc/sys/vm/drop_caches) 2>/dev/null || dd if="$ckpt" iflag=nocache count=0 status=none 2>/dev/null || true
}
secs_pinned() { "$bin/h2d_limit" "$tensor_bytes" $((64 << 20)) 3 2 1; }
secs_pthsafe() {
  local j
  j=$("$bin/pthsafe" load --json --map-location cuda:0 "$ckpt") || return 1
  sed -E 's/.*"seconds":([0-9.eE+-]+).*/\1/' <<<"$j"
}
secs_torch() {
  [[ $torch_ok == yes ]] || { echo "torch not installed" >&2; return 1; }
  [[ $torch_cuda == yes ]] || { echo "torch without CUDA" >&2; return 1; }
  "$py" - "$ckpt" "$1" <<'PY'
import sys, time, torch
path, mode = sys.argv[1], sys.argv[2]
torch.empty(1, device="cuda:0"); torch.cuda.synchronize()
t = time.perf_counter()
sd = torch.load(path, map_location="cuda:0", mmap=(mode == "mmap"), weights_only=True); torch.cuda.synchronize()
print(time.perf_counter() - t)
PY
}
gibs() { awk -v b="$tensor_bytes" -v s="$1" 'BEGIN { printf "%.2f", b / s / 2^30 }'; }
ratio() { awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { printf "%.*f", d, a / b }'; }

table=$out/gpu-check.txt
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
declare -A warm
{
  echo "$label checkpoint ($bytes bytes, $tensor_bytes tensor bytes, written by $input), ${gpu:-no nvidia-smi}"
  [[ $device == no ]] && echo "no CUDA device on this machine: nothing measured"
  printf "%-34s %10s %10s\n" "method" "cold GiB/s" "warm GiB/s"
  for m in pinned pthsafe torch torch_mmap; do
    case $m in
      pinned) f=(secs_pinned); name="pinned H2D limit (h2d_limit)";;
      pthsafe) f=(secs_pthsafe); name="pthsafe --map-location cuda:0";;
      torch) f=(secs_torch plain); name='torch.load(map_location="cuda:0")';;
      torch_mmap) f=(secs_torch mmap); name="torch.load(..., mmap=True)";;
    esac
    if [[ $device == no ]]; then
      printf "%-34s %21s\n" "$name" "n/a (no CUDA device)"; continue
    fi
    drop
    if ! c=$("${f[@]}" 2>"$work/err"); then
      why=$(tail -1 "$work/err"); printf "%-34s %21s\n" "$name" "n/a (${why:-failed})"
      [[ $m == torch* ]] || status=1
      continue
    fi
    w=$("${f[@]}" 2>"$work/err") || { printf "%-34s %10s %10s\n" "$name" "$(gibs "$c")" "failed"; status=1; continue; }
    warm[$m]=$w
    printf "%-34s %10s %10s\n" "$name" "$(gibs "$c")" "$(gibs "$w")"
  done
  if [[ -n ${warm[pinned]:-} && -n ${warm[pthsafe]:-} ]]; then
    echo "warm pthsafe / pinned limit: $(ratio "${warm[pinned]}" "${warm[pthsafe]}" 3) (target >= 0.85)"
  fi
  if [[ -n ${warm[torch]:-} && -n ${warm[pthsafe]:-} ]]; then
    echo "warm pthsafe vs torch.load:  $(ratio "${warm[torch]}" "${warm[pthsafe]}" 2)x (target >= 3x)"
  elif [[ $device == yes ]]; then
    echo "warm pthsafe vs torch.load:  not measured (torch: $([[ $torch_ok == yes ]] && echo "installed, CUDA $torch_cuda" || echo "not installed"))"
  fi
  if [[ -n ${warm[torch_mmap]:-} && -n ${warm[pthsafe]:-} ]]; then
    echo "warm pthsafe vs torch mmap:  $(ratio "${warm[torch_mmap]}" "${warm[pthsafe]}" 2)x"
  fi
} >"$table"
cat "$table"
rm -f "$work/err"
[[ $status -ne 0 ]] && exit "$status"
[[ $device == no ]] && exit 77
exit 0
