#!/usr/bin/env bash
# Builds pthrun's libFuzzer targets with clang (ASan + UBSan) in build-fuzz/, runs each for a
# while and prints, per target, the executions, the coverage and the crashes found.
#
#   tools/fuzz.sh [-j JOBS] [SECONDS [TARGET...]]
#
#   SECONDS  per target (default 60; 0 builds and makes the corpora without running)
#   TARGET   unpickler, checkpoint, json, tokenizer, cli_args (default: all five)
#   -j JOBS  targets run at once (default 1; each uses one core)
#
# Targets (tests/fuzz/fuzz_<TARGET>.cpp):
#   unpickler   the pickle machine on raw bytes
#   checkpoint  whole files: detection, zip + libzip, CRCs, legacy, safetensors, reading every tensor
#   json        the bounded JSON reader, its limits chosen by the first byte
#   tokenizer   encode/decode round trips in both <|endoftext|> modes, merge cache on and off;
#               id lists that must decode or throw pthrun::Error
#   cli_args    argv for a command of the real table, through parse_args and every typed getter
#
# Every target runs with -rss_limit_mb=1024: an input that makes pthrun take more than 1 GiB
# (memory amplification) is a finding like a crash. The loader targets also abort on a message
# that is not one clean line and on JSON output that does not parse (tests/fuzz/fuzz_checks.h).
#
# Each target's corpus (build-fuzz/corpus/<target>/) grows from run to run; the seeds are made
# again each run in build-fuzz/seeds/<target>/ (fixtures, tokenizer references, command lines).
# Crashes, leaks and hangs land in build-fuzz/crashes/<target>/; reproduce one with
# `build-fuzz/fuzz_<target> FILE`, fix it, and add the input as a regression test.
# The exit status is 1 when a run found anything. Needs clang-14 (apt-get install clang-14).
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=1
if [[ ${1:-} == -j ]]; then
  jobs=$2
  shift 2
fi
seconds=${1:-60}
shift || true
all_targets=(unpickler checkpoint json tokenizer cli_args)
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")
for target in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $target "* ]] || { echo "unknown target '$target' (${all_targets[*]})" >&2; exit 2; }
done
out=build-fuzz

# One CMake build with PTHRUN_FUZZ: the libraries instrumented, the targets in tests/fuzz/.
# -O1 keeps the sanitizers' reports readable; pthrun itself is built to list the commands.
mkdir -p "$out"
cmake -S . -B "$out" -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER="${CXX:-clang++-14}" \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DPTHRUN_CUDA=OFF -DPTHRUN_TESTS=OFF \
  -DPTHRUN_FUZZ=ON > "$out/configure.log" 2>&1 || { cat "$out/configure.log"; exit 1; }
cmake --build "$out" -j 2 --target pthrun "${targets[@]/#/fuzz_}" > "$out/build.log" 2>&1 ||
  { tail -n 40 "$out/build.log"; exit 1; }

# Seed corpora.
seeds=$out/seeds
rm -rf "$seeds" && mkdir -p "$seeds"/{unpickler,checkpoint,json,tokenizer,cli_args}
# checkpoint: the fixtures as files (the hostile ones included).
find tests/fixtures/loader tests/fixtures/reject tests/fixtures/hostile tests/fixtures/model -type f \
  \( -name '*.pth' -o -name '*.pt' -o -name '*.bin' -o -name '*.safetensors' \) -size -200k \
  -exec cp --backup=numbered -t "$seeds/checkpoint" {} +
# cli_args: the first byte is the command's place in the table, which `pthrun --help` lists
# in order; each option of each command's --help goes into a dictionary.
"$out/pthrun" --help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p' > "$out/commands.txt"
{
  while read -r command; do "$out/pthrun" "$command" --help; done < "$out/commands.txt" |
    grep -oE -- '--[a-z][a-z-]*|^  -[a-z]' | tr -d ' ' | sort -u | sed 's/.*/"&"/'
  printf '"%s"\n' -- cpu cuda cuda: f32 f16 bf16 float16 bfloat16 KiB MiB GiB MB B \
    mode: caching nocache async cap: cap_fraction: max_split_size_mb: trace: trace_entries: timing: \
    , = 0 1 -1 1e308 0x 9223372036854775807 -9223372036854775808
} > "$out/cli_args.dict"
python3 - "$seeds" "$out/commands.txt" <<'PY'
import json, os, shlex, sys, zipfile
seeds, commands = sys.argv[1], open(sys.argv[2]).read().split()

def write(target, name, data):
    with open(os.path.join(seeds, target, name), "wb") as f:
        f.write(data)

# unpickler: the data.pkl records of the zip fixtures, the first byte choosing the
# persistent-id flavour as fuzz_unpickler reads it.
n = 0
for folder, _, files in os.walk("tests/fixtures"):
    for name in files:
        try:
            with zipfile.ZipFile(os.path.join(folder, name)) as z:
                for info in z.infolist():
                    if info.filename.endswith(".pkl"):
                        write("unpickler", f"seed{n}", b"\x01" + z.read(info.filename))
                        n += 1
        except (zipfile.BadZipFile, IsADirectoryError, OSError, NotImplementedError, ValueError):
            pass

# json: safetensors headers, manifests and reference files, each under three sets of limits
# (the first byte), and the JSON of the hostile cases.
n = 0
def json_seed(text):
    global n
    for knobs in (0x0f, 0x1f, 0xf3):
        write("json", f"seed{n}", bytes([knobs]) + text)
        n += 1
for folder, _, files in os.walk("tests/fixtures"):
    for name in sorted(files):
        path = os.path.join(folder, name)
        if os.path.getsize(path) > 100000:
            continue
        data = open(path, "rb").read()
        if name.endswith(".safetensors") and len(data) >= 8:
            json_seed(data[8:8 + int.from_bytes(data[:8], "little")])
        elif name.endswith(".json"):
            json_seed(data)
for text in ('{"a": 1, "a": 2}', '[' + '[' * 200 + ']' * 200 + ']', '"\\ud800"', '{"n_head": 99999999999999999999}',
             '{"shape": [1,1,1,1,1,1,1,1,1]}', '1e999', '"\u001b]0;x\u0007"'):
    json_seed(text.encode())

# tokenizer: each reference text, and its ids as 16-bit ids (an even first byte) for decoding.
lines = []
for path in ("third_party/gpt2/reference-ids.jsonl", "tests/fixtures/tokenizer/references.jsonl"):
    lines += [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
for i, line in enumerate(lines):
    write("tokenizer", f"text{i}", line["text"].encode("utf-8", "surrogatepass"))
    write("tokenizer", f"ids{i}", b"\x00" + b"".join(id.to_bytes(2, "little") for id in line["ids"]))

# cli_args: command lines as the README and --help show them.
for i, line in enumerate("""
generate model.pth --prompt "Every effort moves you" --max-new-tokens 30 --temperature 0.8 --top-k 40 --top-p 0.95 --seed 7
generate model.pth --tokens 464,3290 --tokens 15496,11 -n 5 --json --device cpu --dtype f32 --heads 12
generate model.pth --prompt=Hi --no-stop --no-graph --alloc-trace trace.json --key model_state_dict
forward model.pth --tokens 15496,11,995 --output logits.npy --device cuda:0 --dtype bf16
bench --config gpt2-small --context 1024 --prompt-tokens 128 --new-tokens 64 --repeat 5 --json
bench model.pth --device cuda --dtype f16
init --output small.pth --config gpt2-small --layers 2 --vocab 50257 --context 64 --dtype f32 --naming book --seed 1
convert model.pth --output hf.safetensors --naming hf --dtype bf16 --per-tensor
inspect model.pth --key state_dict --json
dump model.pth transformer.wte.weight --output wte.npy --key model
tokenize "Hello, world" --special
tokenize --decode 15496,11,995
tokenize --decode "[15496, 11, 995]" --vocab third_party/gpt2
tokenize --file notes.txt
tokenize-bench --repeats 5 --mb 4.0 --file text.txt
load-bench model.pth --strategy mmap --per-tensor-dir tensors --json --svg out.svg
stream-bench model.pth --repeat 3 --staging-mb 64 --dtype f16 --device all --generate --key model
alloc-report trace.json --output report.html --snapshot snapshot.pickle
alloc-compare model.pth --prompt-tokens 64 --new-tokens 32 --mode nocache
alloc-bench --device cpu --pairs 200000 --json
demo --config gpt2-medium --cache /tmp/pthrun --device cpu --prompt "Hello" --max-new-tokens 30
demo --device cap:2GiB,trace:1,trace_entries:500,max_split_size_mb:64,mode:async,timing:1
demo --device cap_fraction:0.5 -- --not-an-option
info
""".strip().splitlines()):
    words = shlex.split(line)
    data = bytes([commands.index(words[0])]) + b"\0".join(w.encode() for w in words[1:])
    write("cli_args", f"line{i}", data)
PY

if ((seconds == 0)); then
  echo "built ${targets[*]/#/fuzz_} and their seeds in $out/"
  exit 0
fi

# The options that differ per target: the longest input, and a dictionary.
declare -A extra=(
  [unpickler]="-max_len=131072"
  [checkpoint]="-max_len=131072"
  [json]="-max_len=65536"
  [tokenizer]="-max_len=8192"
  [cli_args]="-max_len=1024 -dict=$out/cli_args.dict"
)

run_target() {
  local target=$1
  local start=$SECONDS
  mkdir -p "$out/corpus/$target" "$out/crashes/$target" "$out/logs"
  # shellcheck disable=SC2086  # extra holds several options
  "$out/fuzz_$target" "$out/corpus/$target" "$seeds/$target" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$out/crashes/$target/" ${extra[$target]} \
    > "$out/logs/$target.log" 2>&1 || true
  # A crash ends the run early: the table shows the time it really ran.
  echo $((SECONDS - start)) > "$out/logs/$target.seconds"
}

stamp=$out/logs/started
mkdir -p "$out/logs" && touch "$stamp"
echo "running ${targets[*]} for $seconds s each, $jobs at a time"
running=0
for target in "${targets[@]}"; do
  if ((running == jobs)); then
    wait -n
    running=$((running - 1))
  fi
  run_target "$target" &
  running=$((running + 1))
done
wait

# Per target: libFuzzer's final statistics, the coverage of its last status line (cov: edges,
# ft: features), and the artifacts this run wrote.
final_stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
found=0
printf '| target | seconds | executions | exec/s | cov | ft | corpus | crashes |\n|---|---|---|---|---|---|---|---|\n'
for target in "${targets[@]}"; do
  log=$out/logs/$target.log
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
  crashes=$(find "$out/crashes/$target" -type f -newer "$stamp" | wc -l)
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$target" "$(< "$out/logs/$target.seconds")" \
    "$(final_stat number_of_executed_units)" "$(final_stat average_exec_per_sec)" "${cov:-?}" "${ft:-?}" \
    "$(find "$out/corpus/$target" -type f | wc -l)" "$crashes"
  if ((crashes)) || grep -qE '^(==[0-9]+==ERROR|SUMMARY)' "$log"; then
    found=1
    find "$out/crashes/$target" -type f -newer "$stamp" | sed 's/^/  /'
    grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_)' "$log" | sed 's/^/  /' || true
  fi
done
echo "logs: $out/logs/"
exit "$found"
