#!/usr/bin/env bash
# The one command for a machine with a CUDA GPU: builds pthrun for Hopper (sm_90), runs every
# test including the GPU suites, runs compute-sanitizer over the GPU suites, runs the
# benchmarks and the PyTorch comparisons, and prints a short table. Full logs go to $OUT
# (the device tool's output folder) or to build-gpu/logs.
#
#   tools/gpu-check.sh [test] [sanitize] [bench] [load]     default: all four, in that order
#
# Each phase fits one call of the device tool (at most 10 minutes); the build is reused when the
# machine is still warm. Packages the GPU machine cannot download come from .gpu-deps/, made here
# by tools/gpu-deps.sh and carried with the call:
#   run(command="bash tools/gpu-check.sh test sanitize", carry=[".gpu-deps"])
set -euo pipefail
cd "$(dirname "$0")/.."
phases=("$@")
[[ ${#phases[@]} -gt 0 ]] || phases=(test sanitize bench load)
logs=${OUT:-build-gpu/logs}
mkdir -p "$logs"
summary=()
note() { summary+=("$(printf '%-44s %s' "$1" "$2")"); }

# Build-time dependencies from .gpu-deps (pkg-config files point into its root), run-time ones
# from .gpu-deps/lib only, so that Python and PyTorch keep their own libraries.
if [[ -d .gpu-deps ]]; then
  deps=$PWD/.gpu-deps
  export PATH=$deps/root/usr/bin:$PATH
  export PKG_CONFIG_SYSROOT_DIR=$deps/root
  export PKG_CONFIG_LIBDIR=$deps/root/usr/lib/x86_64-linux-gnu/pkgconfig:$deps/root/usr/share/pkgconfig
  export CMAKE_PREFIX_PATH=$deps/root/usr
  export LD_LIBRARY_PATH=$deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

build() {
  if [[ ! -x build-gpu/pthrun ]]; then
    cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 > "$logs/configure.log"
  fi
  cmake --build build-gpu -j "$(nproc)" > "$logs/build.log" 2>&1 || { tail -30 "$logs/build.log"; exit 1; }
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$logs/gpu.txt" || true
  note "GPU" "$(cat "$logs/gpu.txt" 2>/dev/null)"
  note "CUDA (nvcc)" "$(nvcc --version | tail -1)"
  note "torch" "$(python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo none)"
}

phase_test() {
  if ctest --test-dir build-gpu --output-on-failure -j 4 > "$logs/ctest.log" 2>&1; then
    note "tests" "$(grep -E 'tests passed' "$logs/ctest.log")"
  else
    note "tests" "FAILED: $(grep -E 'tests passed' "$logs/ctest.log")"
    grep -E "^\s+[0-9]+ - " "$logs/ctest.log" | head
  fi
  grep -q "Skipped" "$logs/ctest.log" && note "skipped suites" "$(grep -E '\(Skipped\)' "$logs/ctest.log" | tr -s ' ' | tr '\n' ' ')"
}

phase_sanitize() {
  for suite in test_gpu_runtime test_gpu_kernels test_gpu_loader test_gpu_model; do
    for tool in memcheck racecheck; do
      # racecheck replays shared-memory accesses: the kernels' suite is where they are.
      [[ $tool == racecheck && $suite != test_gpu_kernels ]] && continue
      if compute-sanitizer --tool "$tool" --error-exitcode 99 "build-gpu/tests/$suite" > "$logs/$tool-$suite.log" 2>&1; then
        note "compute-sanitizer $tool $suite" "clean"
      else
        note "compute-sanitizer $tool $suite" "FAILED (exit $?): see $tool-$suite.log"
        grep -m5 -E "=========.*(Invalid|Race|Error)" "$logs/$tool-$suite.log" || true
      fi
    done
  done
}

field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

phase_bench() {
  local p=build-gpu/pthrun
  for size in gpt2-small gpt2-xl; do
    "$p" bench --config "$size" --device cuda --dtype bf16 --prompt-tokens 128 --new-tokens 128 --repeat 20 --json \
      > "$logs/bench-$size-bf16.json"
    local goal=1.0
    [[ $size == gpt2-small ]] && goal=0.16
    note "decode $size bf16 (goal <= $goal ms/token)" \
      "$(field "$logs/bench-$size-bf16.json" decode_ms_per_token) ms/token"
    "$p" kernel-bench --device cuda --dtype bf16 --size "$size" > "$logs/kernel-bench-$size.txt" 2>&1 || true
  done
  "$p" bench --config gpt2-small --device cuda --dtype bf16 --prompt-tokens 1024 --new-tokens 2 --repeat 20 --json \
    > "$logs/bench-prefill1024.json"
  note "prefill 1024 gpt2-small bf16" "$(field "$logs/bench-prefill1024.json" prefill_tokens_per_second) tokens/s"
  mkdir -p build-gpu/models
  for size in gpt2-small gpt2-xl; do
    [[ -f build-gpu/models/$size.pth ]] || "$p" init --config "$size" -o "build-gpu/models/$size.pth" > /dev/null
    python3 tools/torch_bench.py "build-gpu/models/$size.pth" --device cuda --dtype bf16 --prompt-tokens 128 \
      --new-tokens 128 --repeat 20 --pthrun "$p" > "$logs/torch-bench-$size.txt" 2>&1 || true
  done
  python3 tools/torch_bench.py build-gpu/models/gpt2-small.pth --device cuda --dtype bf16 --prompt-tokens 1024 \
    --new-tokens 2 --repeat 20 --pthrun "$p" > "$logs/torch-bench-prefill1024.txt" 2>&1 || true
  note "PyTorch comparisons" "torch-bench-*.txt"
}

phase_load() {
  local p=build-gpu/pthrun ckpt=build-gpu/models/gpt2-xl.pth
  mkdir -p build-gpu/models
  [[ -f $ckpt ]] || "$p" init --config gpt2-xl -o "$ckpt" > /dev/null
  "$p" load-bench "$ckpt" --device cuda --json --svg "$logs/load-bench-gpu.svg" > "$logs/load-bench.json" 2> "$logs/load-bench.err"
  python3 - "$logs/load-bench.json" <<'PY' >> "$logs/load-summary.txt"
import json, sys
r = json.load(open(sys.argv[1]))
for m in r["results"]:
    print(f"{m['strategy']:11} device {m['device_peak_allocated']/2**30:6.2f} GiB  host RSS {m['host_peak_rss']/2**30:6.2f} GiB"
          f"  anon {m['host_peak_anon']/2**20:8.1f} MiB  {m['seconds']:6.2f} s")
PY
  note "load-bench gpt2-xl fp32 (pthrun)" "$(grep '^pthrun' "$logs/load-summary.txt")"
  python3 tools/torch_load_strategies.py "$ckpt" --device cuda --pthrun "$p" > "$logs/torch-load-strategies.txt" 2>&1 || true
  "$p" alloc-compare "$ckpt" --device cuda --new-tokens 64 > "$logs/alloc-compare.txt" 2>&1 || true
  note "PyTorch load strategies, alloc-compare" "torch-load-strategies.txt, alloc-compare.txt"
}

build
for phase in "${phases[@]}"; do "phase_$phase"; done
echo
printf '%s\n' "${summary[@]}" | tee "$logs/summary.txt"
