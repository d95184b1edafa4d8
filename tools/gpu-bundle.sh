#!/usr/bin/env bash
# Prepares, on this machine, everything tools/gpu-check.sh needs on a GPU machine that reaches
# no package registry: pthrun built here for Hopper (sm_90) with its GPU test suites, and the
# shared libraries they need that such a machine may lack (libzip, cpp-httplib with its TLS and
# compression libraries, OpenBLAS with its Fortran runtime, GCC's OpenMP), packed into one compressed file with the folder the build was
# configured in (the test suites find their fixtures and pthrun through it).
#
#   bash tools/gpu-bundle.sh         # -> .gpu-carry/bundle.tar.xz (git-ignored)
#   run(command="bash tools/gpu-check.sh", carry=[".gpu-carry"], timeout_s=600)
#
# The device tool carries at most 64 MiB with the working tree: compressed, the bundle is about
# a third of that. cuBLASLt (540 MB) is not carried: the CUDA backend opens the GPU machine's own.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-gpu
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DPTHRUN_TESTS=ON -DCMAKE_CUDA_ARCHITECTURES=90 > /dev/null
cmake --build "$build" -j 2 -t pthrun pthrun_cuda test_gpu_runtime test_gpu_kernels test_gpu_loader test_gpu_model

stage=.gpu-carry/stage
rm -rf .gpu-carry && mkdir -p "$stage/$build/tests" "$stage/lib"
cp "$build/pthrun" "$build/libpthrun_cuda.so" "$stage/$build/"
for suite in test_gpu_runtime test_gpu_kernels test_gpu_loader test_gpu_model; do cp "$build/tests/$suite" "$stage/$build/tests/"; done
# Everything the binaries link besides the C and C++ runtimes, which every image has (the GPU
# machine's gpu-check.sh installs only those its image lacks).
ldd "$build/pthrun" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' |
  while read -r so path; do
    case $so in libc.so.* | libm.so.* | libstdc++.so.* | libgcc_s.so.* | ld-linux*) continue ;; esac
    cp -L "$path" "$stage/lib/$so"
  done
# The absolute source folder the suites were built with (PTHRUN_SOURCE_DIR, PTHRUN_BINARY_DIR).
echo "$PWD" > "$stage/SOURCE_DIR"
git rev-parse HEAD > "$stage/COMMIT"
tar -cJf .gpu-carry/bundle.tar.xz -C "$stage" .
rm -rf "$stage"
du -h .gpu-carry/bundle.tar.xz
