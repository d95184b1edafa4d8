#!/usr/bin/env bash
# Makes the charts the README shows, in tools/results/, with the tables printed beside them,
# and renders each to PNG in build/charts/ so that it can be looked at as a person sees it
# (rsvg-convert, from librsvg2-bin; tests/test_alloc_report.cpp renders charts the same way).
#
#   bash tools/charts.sh [DEVICE [CONFIG]]     default: cpu gpt2-small
#
# The checkpoint is the one `pthrun demo` caches ($PTHRUN_CACHE, else ~/.cache/pthrun); it is
# made when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

device=${1:-cpu}
config=${2:-gpt2-small}
pthrun=build/pthrun
cache=${PTHRUN_CACHE:-$HOME/.cache/pthrun}
checkpoint=$cache/$config-book-f32.pth
results=tools/results
tag=${device%%:*}-$config
mkdir -p "$cache" "$results" build/charts
[[ -f $checkpoint ]] || $pthrun init --config "$config" -o "$checkpoint"

$pthrun load-bench "$checkpoint" --device "$device" --svg "$results/load-bench-$tag.svg" | tee "$results/load-bench-$tag.txt"
$pthrun generate "$checkpoint" --device "$device" --prompt "Every effort moves you" -n 30 \
  --alloc-trace build/charts/trace-$tag.json >/dev/null
$pthrun alloc-report build/charts/trace-$tag.json -o "$results/alloc-report-$tag.svg" | tee "$results/alloc-report-$tag.txt"

for svg in "$results/load-bench-$tag.svg" "$results/alloc-report-$tag.svg"; do
  png=build/charts/$(basename "${svg%.svg}").png
  rsvg-convert -o "$png" "$svg"
  echo "rendered $png: look at it"
done
