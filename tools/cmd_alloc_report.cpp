// pthrun alloc-report: a recorded allocator trace as a chart of memory over time, stacked by
// scope (weights, KV cache, activations, workspace), with fragmentation figures.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/alloc_trace.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/json.h"
#include "runtime/quote.h"
#include "tools/alloc_timeline.h"
#include "tools/cli.h"
#include "tools/memory_viz.h"
#include "tools/svg_chart.h"

namespace pthrun::cli {

namespace {

int run_alloc_report(const ParsedArgs& args) {
  args.max_positional(1);
  const std::string& path = args.positional(0, "the trace file (TRACE.json)");
  const std::string text = read_file(path, JsonLimits{}.max_bytes);
  const TraceDocument trace = with_context({path}, [&] { return trace_from_json(text); });
  const Fragmentation f = fragmentation(trace);
  std::printf("trace of %s (%s allocator): %zu events%s\n", printable(trace.device).c_str(), printable(trace.mode).c_str(),
              trace.events.size(), trace.dropped ? str(", ", trace.dropped, " earlier ones dropped by the ring").c_str() : "");
  std::printf("  peak allocated          %s\n", format_bytes(static_cast<double>(f.peak_allocated)).c_str());
  std::printf("  peak reserved           %s\n", format_bytes(static_cast<double>(f.peak_reserved)).c_str());
  std::printf("  peak reserved/allocated %.4f\n", f.peak_ratio);
  std::printf("  segments at the end     %lld\n", static_cast<long long>(f.segments));
  std::printf("  free in segments        %s (largest free block %s, in split segments %s)\n",
              format_bytes(static_cast<double>(f.free_bytes)).c_str(),
              format_bytes(static_cast<double>(f.largest_free_block)).c_str(),
              format_bytes(static_cast<double>(f.inactive_split_bytes)).c_str());

  // Each scope's own peak: small scopes (the KV cache beside the weights) would not show in
  // the chart alone.
  const MemoryTimeline timeline = build_timeline(trace);
  std::vector<std::string> names;
  std::printf("  peak allocated by scope:\n");
  for (std::size_t c = 0; c < timeline.categories.size(); ++c) {
    const double peak = *std::max_element(timeline.allocated[c].begin(), timeline.allocated[c].end());
    names.push_back(str(timeline.categories[c], " (", format_bytes(peak), ")"));
    std::printf("    %-22s %s\n", printable(timeline.categories[c]).c_str(), format_bytes(peak).c_str());
  }
  if (auto out = args.get("output")) {
    StackedAreaChart chart{str("Memory on ", trace.device, " (", trace.mode, " allocator)"), "time (ms)",
                           timeline.time_ms, {}, {{"reserved", timeline.reserved}}};
    for (std::size_t c = 0; c < timeline.categories.size(); ++c)
      chart.stacked.push_back({names[c], timeline.allocated[c]});
    write_file_atomically(*out, render(chart));
    std::printf("wrote %s\n", out->c_str());
  }
  if (auto snapshot = args.get("snapshot")) {
    write_file_atomically(*snapshot, memory_viz_pickle(trace));
    std::printf("wrote %s (open it at https://pytorch.org/memory_viz)\n", snapshot->c_str());
  }
  return 0;
}

}  // namespace

extern const CommandSpec alloc_report_command = {
    "alloc-report",
    "Chart memory over time from an allocator trace and print fragmentation figures",
    "TRACE.json",
    {{"output", 'o', "REPORT.svg", "write the chart of allocated (by scope) and reserved memory over time"},
     {"snapshot", 0, "FILE.pickle", "write the trace as a PyTorch memory snapshot (pytorch.org/memory_viz)"}},
    run_alloc_report,
    "The trace is the JSON that `pthrun generate --alloc-trace` (or any run with\n"
    "PTHRUN_ALLOC_CONF=trace:1 and write_trace_file()) records; its schema is in the README."};

}  // namespace pthrun::cli
