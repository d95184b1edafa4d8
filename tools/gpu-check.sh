#!/usr/bin/env bash
# The one command for a GPU machine, sized for the device tool: one call of at most 10 minutes
# (its limit per command; a session has 15 minutes of device time in all, the machine's start
# of one or two included), on a fresh machine that reaches no package registry.
#
#   here:   bash tools/gpu-bundle.sh          # build for sm_90 and pack it: .gpu-carry/
#   there:  run(command="bash tools/gpu-check.sh", carry=[".gpu-carry"], timeout_s=600)
#
# Phases, in this order; each has a time cap and writes its results to $OUT as it finishes, so
# that a run cut short still reports what it finished (estimates for an H200, 16 cores):
#   a  every GPU test suite, and `pthrun info` (which asks cuBLASLt about every GPT-2 product)  2 min
#   b  compute-sanitizer: memcheck over the GPU suites (the GPT-2-shaped model cases left out),
#      racecheck over the kernels' suite (cuBLASLt's products left out: not our kernels)         3 min
#   c  load-bench of gpt2-xl fp32 with PyTorch's five loading strategies side by side
#      (device peak, host anonymous peak, time)                                                  1.5 min
#   d  prefill and decode of gpt2-small and gpt2-xl in bf16 against PyTorch eager, SDPA and
#      torch.compile; the first run outran caps of 60 and 120 s, so they are 180 and 300 s,
#      and d gets a call of its own (`bash tools/gpu-check.sh d`)                                 8 min
# and one summary table, printed last and kept in $OUT/summary.txt. Logs: $OUT/{a,b,c,d}-*.log.
#
#   bash tools/gpu-check.sh [a] [b] [c] [d]     # a subset (still in this order)
#   GPU_CHECK_SECONDS=570                       # the whole run's budget (default)
set -uo pipefail
cd "$(dirname "$0")/.."
phases=("$@")
[[ ${#phases[@]} -gt 0 ]] || phases=(a b c d)
OUT=${OUT:-build-gpu/logs}
mkdir -p "$OUT"
budget=${GPU_CHECK_SECONDS:-570}
summary=()

note() {
  summary+=("$(printf '%-46s %s' "$1" "$2")")
  printf '%s\n' "${summary[@]}" > "$OUT/summary.txt"
}

# Seconds left of the budget.
left() { echo $((budget - SECONDS)); }

# capped SECONDS LOG COMMAND...: runs COMMAND for at most SECONDS (and never past the budget),
# appending its output to LOG; returns its status, 124 when it was cut off.
capped() {
  local cap=$1 log=$2
  shift 2
  local limit
  limit=$(left)
  ((cap < limit)) || cap=$limit
  if ((cap <= 0)); then
    echo "not run (budget spent): $*" >> "$log"
    return 124
  fi
  echo "\$ $* (at most ${cap}s)" >> "$log"
  timeout --kill-after=5 "$cap" "$@" >> "$log" 2>&1
}

# doctest's last summary line of a suite's log, e.g. "12 passed | 0 failed".
cases_of() { grep -E '^\[doctest\] test cases:' "$1" | tail -1 | sed -E 's/.*test cases: *//; s/ *\| */, /g'; }

setup() {
  local carry=.gpu-carry
  if [[ ! -f $carry/bundle.tar.xz ]]; then
    echo "no $carry/bundle.tar.xz: run tools/gpu-bundle.sh first and carry .gpu-carry" | tee "$OUT/summary.txt"
    exit 2
  fi
  if [[ -e build-gpu && ! -e build-gpu/.from-bundle ]]; then
    echo "build-gpu/ exists and is not an unpacked bundle: this script is for the GPU machine" | tee "$OUT/summary.txt"
    exit 2
  fi
  rm -rf "$carry/unpacked" "$carry/lib" build-gpu && mkdir -p "$carry/unpacked" "$carry/lib"
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$carry/bundle.tar.xz" \
    "$carry/unpacked"
  mv "$carry/unpacked/build-gpu" build-gpu && touch build-gpu/.from-bundle
  # The suites find their fixtures and pthrun under the folder the build was configured in.
  local source_dir
  source_dir=$(cat "$carry/unpacked/SOURCE_DIR")
  if [[ $source_dir != "$PWD" && ! -e $source_dir ]]; then
    mkdir -p "$(dirname "$source_dir")" && ln -s "$PWD" "$source_dir"
  fi
  # Only the carried libraries the image lacks, so that its own (newer) ones win.
  local so
  for so in "$carry"/unpacked/lib/*; do
    ldconfig -p | awk -v name="$(basename "$so")" '$1 == name { found = 1 } END { exit !found }' ||
      cp "$so" "$carry/lib/"
  done
  # cuBLASLt is the machine's own: the system's, the toolkit's, or PyTorch's wheel's.
  local cublas
  cublas=$(ldconfig -p | awk '/libcublasLt\.so\.13 /{print $NF; exit}')
  for candidate in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
    [[ -z $cublas && -e $candidate/libcublasLt.so.13 ]] && cublas=$candidate/libcublasLt.so.13
  done
  if [[ -z $cublas ]]; then
    cublas=$(python3 -c 'import glob, os, site
print(next(iter(sorted(h for r in site.getsitepackages() for h in glob.glob(os.path.join(r, "nvidia", "*", "lib", "libcublasLt.so.13")))), ""))')
  fi
  export LD_LIBRARY_PATH=$PWD/$carry/lib${cublas:+:$(dirname "$cublas")}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export PTHRUN_TORCH_PYTHONS
  PTHRUN_TORCH_PYTHONS=$(command -v python3)
  export PYTHONUNBUFFERED=1
  {
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    echo "commit $(cat "$carry/unpacked/COMMIT"); cuBLASLt ${cublas:-not found}; carried: $(ls "$carry/lib" | tr '\n' ' ')"
    python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
  } > "$OUT/setup.log" 2>&1
  note "GPU" "$(head -1 "$OUT/setup.log")"
  note "torch" "$(grep -m1 '^torch' "$OUT/setup.log" || echo none)"
  if ! build-gpu/pthrun --help > /dev/null 2>> "$OUT/setup.log"; then
    note "carried build" "does not start here: $(tail -1 "$OUT/setup.log")"
    exit 1
  fi
}

phase_a() {
  local log=$OUT/a-tests.log t0=$SECONDS
  capped 60 "$log" build-gpu/pthrun info
  note "a: pthrun info" "$(grep -m1 -E '^GPT-2 products' "$log" | sed -E 's/ \(.*\)//' || echo 'no GPU products line')"
  local suite cap status
  for suite in test_gpu_runtime:40 test_gpu_kernels:60 test_gpu_loader:50 test_gpu_model:120; do
    cap=${suite#*:}
    suite=${suite%:*}
    local before=$SECONDS
    capped "$cap" "$log.$suite" "build-gpu/tests/$suite" --duration=true
    status=$?
    cat "$log.$suite" >> "$log"
    case $status in
      0) note "a: $suite" "passed: $(cases_of "$log.$suite") ($((SECONDS - before)) s)" ;;
      124) note "a: $suite" "TIMED OUT after $((SECONDS - before)) s" ;;
      77) note "a: $suite" "skipped: $(tail -1 "$log.$suite")" ;;
      *) note "a: $suite" "FAILED (exit $status): $(cases_of "$log.$suite")" ;;
    esac
    rm -f "$log.$suite"
  done
  note "a: time" "$((SECONDS - t0)) s"
}

phase_b() {
  local log=$OUT/b-sanitizer.log t0=$SECONDS sanitizer
  sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2> /dev/null | head -1)
  if [[ -z $sanitizer ]]; then
    note "b: compute-sanitizer" "not found on this machine"
    return
  fi
  # tool:suite:cap:doctest filter
  local run tool suite cap filter status
  for run in "memcheck:test_gpu_runtime:35:" "memcheck:test_gpu_kernels:60:" "memcheck:test_gpu_loader:35:" \
             "memcheck:test_gpu_model:30:--test-case-exclude=GPT-2 shapes*" \
             "racecheck:test_gpu_kernels:50:--test-case-exclude=*linear*"; do
    IFS=: read -r tool suite cap filter <<< "$run"
    local part=$log.part before=$SECONDS
    capped "$cap" "$part" "$sanitizer" --tool "$tool" --error-exitcode 99 --print-limit 20 \
      "build-gpu/tests/$suite" --duration=true ${filter:+"$filter"}
    status=$?
    cat "$part" >> "$log"
    local errors
    errors=$(grep -E 'ERROR SUMMARY' "$part" | tail -1 | sed -E 's/=+ *//')
    case $status in
      0) note "b: $tool $suite" "clean: ${errors:-?}; tests $(cases_of "$part") ($((SECONDS - before)) s)" ;;
      124) note "b: $tool $suite" "TIMED OUT after $((SECONDS - before)) s" ;;
      *) note "b: $tool $suite" "FAILED (exit $status): ${errors:-see b-sanitizer.log}" ;;
    esac
    rm -f "$part"
  done
  note "b: time" "$((SECONDS - t0)) s"
}

phase_c() {
  local log=$OUT/c-load.log t0=$SECONDS ckpt=build-gpu/models/gpt2-xl.pth
  mkdir -p build-gpu/models
  [[ -f $ckpt ]] || capped 60 "$log" build-gpu/pthrun init --config gpt2-xl -o "$ckpt" ||
    { note "c: gpt2-xl checkpoint" "not written in time"; return; }
  local part=$log.part
  capped 150 "$part" python3 tools/torch_load_strategies.py "$ckpt" --device cuda --pthrun build-gpu/pthrun
  local status=$?
  cat "$part" >> "$log"
  if ((status == 0)); then
    local line
    while IFS= read -r line; do note "c: load ${line%% *}" "$(echo "${line#* }" | tr -s ' ')"; done \
      < <(grep -E '^(naive|sequential|meta|mmap|per_tensor|pthrun) ' "$part")
  else
    note "c: load-bench gpt2-xl fp32" "$( ((status == 124)) && echo TIMED OUT || echo "FAILED (exit $status)")"
  fi
  rm -f "$part"
  note "c: time" "$((SECONDS - t0)) s"
}

phase_d() {
  local log=$OUT/d-bench.log t0=$SECONDS size
  mkdir -p build-gpu/models
  for size in gpt2-small:180 gpt2-xl:300; do
    local cap=${size#*:}
    size=${size%:*}
    local ckpt=build-gpu/models/$size.pth part=$log.part
    [[ -f $ckpt ]] || capped 60 "$log" build-gpu/pthrun init --config "$size" -o "$ckpt" ||
      { note "d: $size" "checkpoint not written in time"; continue; }
    capped "$cap" "$part" python3 tools/torch_bench.py "$ckpt" --device cuda --dtype bf16 --prompt-tokens 256 \
      --new-tokens 64 --repeat 5 --rounds 3 --pthrun build-gpu/pthrun
    local status=$?
    cat "$part" >> "$log"
    if ((status == 0)); then
      local line
      while IFS= read -r line; do note "d: $size ${line:0:40}" "$(echo "${line:40}" | tr -s ' ')"; done \
        < <(grep -E '^(prefill|decode|forward) ' "$part")
    else
      note "d: $size bf16 vs PyTorch" "$( ((status == 124)) && echo TIMED OUT || echo "FAILED (exit $status)")"
    fi
    rm -f "$part"
  done
  note "d: time" "$((SECONDS - t0)) s"
}

setup
for phase in "${phases[@]}"; do
  case $phase in
    a | b | c | d) "phase_$phase" ;;
    *) echo "unknown phase '$phase': expected a, b, c or d" && exit 2 ;;
  esac
done
note "total" "$SECONDS s of a ${budget} s budget"
echo
printf '%s\n' "${summary[@]}"
