// pthrun alloc-report: a recorded allocator trace as a chart of memory over time, stacked by
// scope (weights, KV cache, activations, workspace), with fragmentation figures.
#include <algorithm>
#include <cstdio>
#include <optional>
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

struct AllocReportArgs {
  std::string trace;
  std::optional<std::string> output, snapshot;
};

int run_alloc_report(const AllocReportArgs& args) {
  const std::string& path = args.trace;
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
  if (const auto& out = args.output) {
    StackedAreaChart chart{str("Memory on ", trace.device, " (", trace.mode, " allocator)"), "time (ms)",
                           timeline.time_ms, {}, {{"reserved", timeline.reserved}}};
    for (std::size_t c = 0; c < timeline.categories.size(); ++c)
      chart.stacked.push_back({names[c], timeline.allocated[c]});
    write_file_atomically(*out, render(chart));
    std::printf("wrote %s\n", out->c_str());
  }
  if (const auto& snapshot = args.snapshot) {
    write_file_atomically(*snapshot, memory_viz_pickle(trace));
    std::printf("wrote %s (open it at https://pytorch.org/memory_viz)\n", snapshot->c_str());
  }
  return 0;
}

}  // namespace

extern const Command alloc_report_command = {
    "alloc-report", "Chart memory over time from an allocator trace and print fragmentation figures",
    [](CLI::App& app) {
      auto args = std::make_shared<AllocReportArgs>();
      app.add_option("TRACE.json", args->trace, "the trace file")->required();
      app.add_option("-o,--output", args->output, "write the chart of allocated (by scope) and reserved memory over time")
          ->type_name("REPORT.svg");
      app.add_option("--snapshot", args->snapshot,
                     "write the trace as a PyTorch memory snapshot (pytorch.org/memory_viz)")
          ->type_name("FILE.pickle");
      return [args] { return run_alloc_report(*args); };
    },
    "The trace is the JSON that `pthrun generate --alloc-trace` (or any run with\n"
    "PTHRUN_ALLOC_CONF=trace:1 and write_trace_file()) records; its schema is in the README."};

}  // namespace pthrun::cli
