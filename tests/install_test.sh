#!/usr/bin/env bash
# Installs the build into a fresh prefix, builds tests/install_example against it with
# find_package(pthrun), and runs both the installed pthrun and the example.
#   install_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
source_dir=$1
build_dir=$2
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
echo "install: prefix, find_package(pthrun) and the example all work"
