#!/usr/bin/env bash
# Configures and builds pthsafe under combinations of compiler x PTHSAFE_FUZZ x PTHSAFE_SANITIZE
# x BUILD_SHARED_LIBS (x PTHSAFE_CUDA), then runs the unit tests and the CLI on a fixture in each:
# every combination must build, link and run. Too slow for the test command (each is a full
# build); run it after touching CMakeLists.txt, cmake/ or fuzz/.
#   tests/consumer/build_matrix.sh             the 16 combinations with PTHSAFE_CUDA=AUTO (ON where
#                                              the toolkit is), plus two with PTHSAFE_CUDA=OFF
#   tests/consumer/build_matrix.sh clang:1:0:0 gcc:0:1:1:0 ...   chosen ones
#                                              (compiler:fuzz:sanitize:shared[:cuda], cuda 0, 1 or a)
# Build trees are build-matrix-<combination> beside build/, at the same depth, so that with
# ccache (CCACHE_BASEDIR set to a parent of the checkout) identical compile commands are shared.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CCACHE_NOHASHDIR=1  # RelWithDebInfo objects differ only in their debug-info directory
combos=("$@")
if [ ${#combos[@]} -eq 0 ]; then
  for cc in gcc clang; do for f in 0 1; do for s in 0 1; do for sh in 0 1; do
    combos+=("$cc:$f:$s:$sh"); done; done; done; done
  combos+=(gcc:0:0:1:0 clang:1:1:0:0)
fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
on() { [ "$1" = 1 ] && echo ON || echo OFF; }
cuda_value() { case "${1:-a}" in 1) echo ON ;; 0) echo OFF ;; *) echo AUTO ;; esac; }
for combo in "${combos[@]}"; do
  IFS=: read -r cc fuzz san shared cuda <<<"$combo"
  case "$cc" in gcc) cxx=g++ ;; clang) cxx=clang++ ;; *) echo "unknown compiler $cc" >&2; exit 2 ;; esac
  dir="build-matrix-$cc-fuzz$fuzz-san$san-shared$shared${cuda:+-cuda$cuda}"
  start=$(date +%s)
  cfg=$(CXX=$cxx cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPTHSAFE_BUILD_TESTS=ON \
    -DPTHSAFE_FUZZ="$(on "$fuzz")" -DPTHSAFE_SANITIZE="$(on "$san")" -DBUILD_SHARED_LIBS="$(on "$shared")" \
    -DPTHSAFE_CUDA="$(cuda_value "$cuda")" \
    "${launcher[@]}")
  with_cuda=$(grep -o "CUDA backend [A-Z]*" <<<"$cfg" | cut -d' ' -f3 || true)
  cmake --build "$dir" -j"${JOBS:-2}" >"$dir/build.log" 2>&1 || { tail -30 "$dir/build.log"; echo "FAIL build $combo"; exit 1; }
  (cd "$dir" && ctest -R '^unit$' --output-on-failure >/dev/null) || { echo "FAIL unit $combo"; exit 1; }
  "$dir/pthsafe" inspect tests/fixtures/state_dict.pth >/dev/null || { echo "FAIL cli $combo"; exit 1; }
  echo "ok $combo (PTHSAFE_CUDA=$(cuda_value "$cuda")${with_cuda:+: backend $with_cuda}, $(( $(date +%s) - start )) s)"
done
