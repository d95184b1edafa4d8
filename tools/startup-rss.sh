#!/usr/bin/env bash
# Peak resident memory and wall time of short pthrun commands, for two builds side by side in
# one run (medians of --repeat runs, the two builds alternating): what linking CUDA costs a
# command that never uses it.
#
#   bash tools/startup-rss.sh BEFORE/pthrun AFTER/pthrun [--repeat 7] [--model gpt2-small.pth]
#
# Commands: `pthrun --help`, `pthrun info`, and a CPU `generate` of 8 tokens with the model
# (a gpt2-small made with `pthrun init` when none is given). Peak RSS is the kernel's high-water
# mark (GNU time's %M); times are wall times from fork to exit (`--help`'s is the start-up time).
set -euo pipefail
before=$1
after=$2
shift 2
repeat=7
model=
while [[ $# -gt 0 ]]; do
  case $1 in
    --repeat) repeat=$2 && shift 2 ;;
    --model) model=$2 && shift 2 ;;
    *) echo "unknown option $1" && exit 2 ;;
  esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ -z $model ]]; then
  model=$work/gpt2-small.pth
  "$after" init --config gpt2-small -o "$model" > /dev/null
fi

commands=("--help" "info" "generate $model --prompt Hello -n 8 --no-stop --device cpu")
labels=("--help" "info" "generate gpt2-small, 8 tokens, CPU")

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-38s %14s %14s %10s %10s\n' "command (median of $repeat)" "before: RSS" "after: RSS" "before s" "after s"
for i in "${!commands[@]}"; do
  for run in $(seq "$repeat"); do
    for side in before after; do
      binary=${!side}
      local_start=$(date +%s%N)
      # shellcheck disable=SC2086
      /usr/bin/time -f "%M" -o "$work/time" "$binary" ${commands[$i]} > /dev/null 2>&1 || true
      echo $((($(date +%s%N) - local_start) / 1000)) | awk '{ print $1 / 1e6 }' >> "$work/$side.sec.$i"
      cat "$work/time" >> "$work/$side.rss.$i"
    done
  done
  printf '%-38s %11.1f MB %11.1f MB %10.3f %10.3f\n' "${labels[$i]}" \
    "$(median < "$work/before.rss.$i" | awk '{ print $1 / 1024 }')" \
    "$(median < "$work/after.rss.$i" | awk '{ print $1 / 1024 }')" \
    "$(median < "$work/before.sec.$i")" "$(median < "$work/after.sec.$i")"
done
