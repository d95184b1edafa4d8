#!/usr/bin/env bash
# Installs the build into a fresh prefix, builds tests/install_example against it with
# find_package(pthrun), and runs both the installed pthrun and the example, on the CPU; with the
# CUDA backend built, checks that both find the installed plugin in the prefix's lib/, from any
# working directory.
#   install_test.sh SOURCE_DIR BUILD_DIR CUDA_BACKEND(ON|OFF)
set -euo pipefail
source_dir=$1
build_dir=$2
cuda_backend=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build_dir" --prefix "$work/prefix" > /dev/null
cmake -S "$source_dir/tests/install_example" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$work/build" -j 2 > /dev/null

# The installed binary finds its tokenizer files under the prefix's share/, not the source tree.
ids=$(PTHRUN_VOCAB_DIR= "$work/prefix/bin/pthrun" tokenize "Hello, world")
[[ $ids == "[15496, 11, 995]" ]] || { echo "installed pthrun tokenize gave $ids"; exit 1; }

"$work/prefix/bin/pthrun" init --config gpt2-small --layers 1 --context 32 -o "$work/model.pth" > /dev/null
out=$("$work/build/example_generate" "$work/model.pth" 12 "Every effort moves you" 5)
echo "$out"
[[ $out == *"tokens 5, peak allocated"* ]] || { echo "example_generate printed: $out"; exit 1; }

# The installed binary and the application link no CUDA library.
for program in "$work/prefix/bin/pthrun" "$work/build/example_generate"; do
  if ldd "$program" | grep -E 'libcuda|libcublas'; then echo "$program links CUDA"; exit 1; fi
done
if [[ $cuda_backend == ON ]]; then
  plugin=$work/prefix/lib/libpthrun_cuda.so
  [[ -f $plugin ]] || { echo "no $plugin installed"; exit 1; }
  info=$(cd / && PTHRUN_CUDA_PLUGIN= "$work/prefix/bin/pthrun" info)
  [[ $info == *"CUDA backend: $plugin"* ]] || { echo "installed pthrun info: $info"; exit 1; }
  # Asked for a GPU, the application opens the plugin it was built against: it either runs, or
  # fails with what the plugin reports (no device here), never with "not installed".
  if ! out=$(cd / && PTHRUN_CUDA_PLUGIN= "$work/build/example_generate" "$work/model.pth" 12 "Every effort" 2 cuda 2>&1); then
    [[ $out == *"not installed"* || $out != *"CUDA"* ]] && { echo "example_generate on cuda: $out"; exit 1; }
  fi
fi
echo "install: prefix, find_package(pthrun) and the example all work"
