#!/usr/bin/env bash
# Stages the GPU check (docs/cuda.md "Running the GPU check") for a machine that has a CUDA
# device but no network, no compiler toolchain worth trusting, and none of libzip, zlib or
# doctest. Run HERE, on the machine that built pthsafe with the CUDA backend:
#   bin/pthsafe                    the CLI (stripped copy of BUILD_DIR/pthsafe)
#   bin/pthsafe_gpu_check          the device fixture check (stripped copy of BUILD_DIR/tests/...)
#   bin/pthsafe_gpu_check_input    bench/gpu_check_input.cpp linked against BUILD_DIR/libpthsafe.a:
#                                  writes the benchmark's float16 state_dict without torch
#   bin/h2d_limit                  bench/h2d_limit.cu built with nvcc: the pinned H2D limit
#   lib/                           every shared library those need except the C/C++ runtime
#                                  (libc, libm, libstdc++, libgcc_s, libpthread, libdl, librt)
#   MANIFEST                       what was staged from where, sizes and sha256 sums
# The CUDA runtime is linked statically (the binaries need only the driver); this is checked.
# Then, on the GPU machine: scripts/gpu-check.sh (it finds STAGE_DIR and builds nothing).
# Usage: scripts/gpu-stage.sh [BUILD_DIR (default build)] [STAGE_DIR (default gpu-stage)]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
stage=${2:-$root/gpu-stage}
limit_mib=48  # the device tool carries at most 64 MiB of ignored paths; stay well under

die() { echo "gpu-stage: $*" >&2; exit 1; }
cli=$build/pthsafe
check=$build/tests/pthsafe_gpu_check
lib=$build/libpthsafe.a
for f in "$cli" "$check" "$lib"; do
  [[ -f $f ]] || die "$f missing: cmake --build $build --target pthsafe_cli pthsafe_gpu_check pthsafe"
done
command -v nvcc >/dev/null || die "nvcc not found (needed to build bench/h2d_limit.cu)"
# A CLI built without the backend answers cuda_not_built; with it, cuda_no_device or a load.
if "$cli" load --map-location cuda:0 "$root/tests/fixtures/big_endian.pt" 2>&1 | grep -q cuda_not_built; then
  die "$cli was built without the CUDA backend (configure with PTHSAFE_CUDA=ON)"
fi

rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/lib"
strip_copy() { cp "$1" "$2" && strip --strip-debug "$2"; }
strip_copy "$cli" "$stage/bin/pthsafe"
strip_copy "$check" "$stage/bin/pthsafe_gpu_check"

cuda_lib=$(dirname "$(command -v nvcc)")/../lib64
[[ -f $cuda_lib/libcudart_static.a ]] || cuda_lib=${CUDA_HOME:-/usr/local/cuda}/lib64
"${CXX:-g++}" -std=c++20 -O2 -I"$root/include" "$root/bench/gpu_check_input.cpp" "$lib" \
  -lzip -lz -pthread -L"$cuda_lib" -lcudart_static -ldl -lrt -o "$stage/bin/pthsafe_gpu_check_input"
strip --strip-debug "$stage/bin/pthsafe_gpu_check_input"
nvcc -O2 -std=c++17 -cudart static -o "$stage/bin/h2d_limit" "$root/bench/h2d_limit.cu"

# Shared libraries: everything ldd resolves except the C/C++ runtime every Linux has.
system='^(linux-vdso|linux-gate|ld-linux|libc\.so|libm\.so|libstdc\+\+\.so|libgcc_s\.so|libpthread\.so|libdl\.so|librt\.so)'
for b in "$stage"/bin/*; do
  ldd "$b" | grep -q 'libcudart\.so' && die "$b links libcudart.so dynamically (want CUDA::cudart_static)"
  ldd "$b" | grep -q 'not found' && die "$b: $(ldd "$b" | grep 'not found')"
  ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | while read -r name path; do
    [[ $name =~ $system ]] && continue
    [[ -f $stage/lib/$name ]] || cp -L "$path" "$stage/lib/$name"
  done
done

# Every non-system library must now resolve into the stage.
for b in "$stage"/bin/*; do
  LD_LIBRARY_PATH=$stage/lib ldd "$b" | awk '$2 == "=>" { print $1, $3 }' | while read -r name path; do
    [[ $name =~ $system ]] && continue
    [[ $path == "$stage/lib/$name" ]] || die "$b: $name resolves to $path, not the stage"
  done
done
LD_LIBRARY_PATH=$stage/lib "$stage/bin/pthsafe" --version >/dev/null || die "staged pthsafe does not run"


bytes=$(du -sb "$stage" | cut -f1)
{
  # shellcheck source=/dev/null
  echo "pthsafe GPU check stage, made $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME")"
  src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
  for d in "${src:-unknown}" "$root"; do  # the build's sources, then this tree (scripts, benches)
    echo "source $d: $(git -C "$d" rev-parse HEAD 2>/dev/null || echo unknown)$(git -C "$d" diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
  done
  echo "build dir: $build (pthsafe built $(date -u -r "$cli" +%Y-%m-%dT%H:%M:%SZ))"
  echo "nvcc: $(nvcc --version | tail -1)"
  echo "needs at most: $(for b in "$stage"/bin/* "$stage"/lib/*; do objdump -T "$b"; done 2>/dev/null \
    | grep -oE '(GLIBC|GLIBCXX)_[0-9.]+' | sort -t_ -k1,1 -k2V | awk -F_ '{m[$1]=$0} END {print m["GLIBC"], m["GLIBCXX"]}')"
  echo "total: $bytes bytes"
  echo
  (cd "$stage" && find bin lib -type f | sort | while read -r f; do
    printf '%10d  %s  %s\n' "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -c1-16)" "$f"
  done)
} >"$stage/MANIFEST"
cat "$stage/MANIFEST"
((bytes <= limit_mib * 1048576)) || die "stage is $bytes bytes, over $limit_mib MiB"
echo "staged in $stage; on the GPU machine run scripts/gpu-check.sh (carry: [\"$(basename "$stage")\"])"
