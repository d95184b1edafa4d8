#!/usr/bin/env bash
# Builds the loader's libFuzzer targets with clang (ASan + UBSan) in build-fuzz/ and runs each
# for a while, from a seed corpus made of the test fixtures.
#
#   tools/fuzz.sh [SECONDS_PER_TARGET]      default 60
#
# Targets (tests/fuzz/): fuzz_unpickler (the pickle machine on raw bytes) and fuzz_checkpoint
# (whole files: detection, zip + libzip, legacy, safetensors, reading every tensor). Crashes
# land in build-fuzz/crashes/<target>/; add each as a regression test before fixing it.
# Not part of the CMake build: it needs clang-14 (Debian: apt-get install clang-14).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
CXX=${CXX:-clang++-14}
out=build-fuzz
mkdir -p "$out/obj" "$out/crashes"

flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -DPTHRUN_WITH_CUDA=0 -I.)
sources=(loader/*.cpp)
for f in runtime/*.cpp; do
  [[ $(basename "$f") == cuda_* ]] || sources+=("$f")
done

# Objects without libFuzzer's main; each target adds its own entry point.
objects=()
for src in "${sources[@]}"; do
  obj="$out/obj/$(echo "$src" | tr / _).o"
  if [[ ! -f $obj || $src -nt $obj ]]; then
    "$CXX" "${flags[@]/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,}" -c "$src" -o "$obj"
  fi
  objects+=("$obj")
done
for target in fuzz_unpickler fuzz_checkpoint; do
  "$CXX" "${flags[@]}" "tests/fuzz/$target.cpp" "${objects[@]}" -lzip -lz -lpthread -o "$out/$target"
done

# Seed corpora: the fixtures as files, and their data.pkl records as pickles (with the first
# byte choosing the persistent-id flavour, as fuzz_unpickler reads it).
rm -rf "$out/corpus" && mkdir -p "$out/corpus/checkpoint" "$out/corpus/unpickler"
find tests/fixtures/loader tests/fixtures/reject tests/fixtures/model -type f \
  \( -name '*.pth' -o -name '*.pt' -o -name '*.bin' -o -name '*.safetensors' \) -size -200k \
  -exec cp --backup=numbered -t "$out/corpus/checkpoint" {} +
python3 - "$out/corpus/unpickler" tests/fixtures <<'PY'
import os, sys, zipfile
out, root = sys.argv[1], sys.argv[2]
n = 0
for folder, _, files in os.walk(root):
    for name in files:
        path = os.path.join(folder, name)
        try:
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    if info.filename.endswith(".pkl"):
                        with open(os.path.join(out, f"seed{n}"), "wb") as f:
                            f.write(b"\x01" + z.read(info.filename))
                        n += 1
        except (zipfile.BadZipFile, IsADirectoryError, OSError, NotImplementedError, ValueError):
            pass
print(f"{n} pickle seeds")
PY

for target in fuzz_unpickler fuzz_checkpoint; do
  corpus="$out/corpus/${target#fuzz_}"
  mkdir -p "$out/crashes/$target"
  echo "== $target: $seconds s"
  status=0
  "$out/$target" "$corpus" -max_total_time="$seconds" -max_len=131072 -rss_limit_mb=4096 -timeout=10 \
    -artifact_prefix="$out/crashes/$target/" -print_final_stats=1 > "$out/$target.log" 2>&1 || status=$?
  # The last coverage line, the totals, and any report.
  grep -E "^#[0-9]+" "$out/$target.log" | tail -n 1
  grep -E "stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|ERROR|SUMMARY" "$out/$target.log" || true
  echo "crashes: $(find "$out/crashes/$target" -type f | wc -l) (full log: $out/$target.log)"
  if ((status)); then tail -n 40 "$out/$target.log"; exit "$status"; fi
done
