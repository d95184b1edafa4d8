// Allocator traces turned into what a person reads: memory over time by scope, and how
// fragmented the allocator ended up.
//
//   TraceDocument trace = trace_from_json(read_file("trace.json"));
//   MemoryTimeline timeline = build_timeline(trace);   // allocated per category, reserved
//   Fragmentation f = fragmentation(trace);
//
// A category is a scope label's first component ("weights/h.3.qkv_w" -> "weights"). When the
// ring dropped early events, the timeline is anchored at the end: the final snapshot says what
// was live, and the recorded events are replayed backwards from there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/alloc_trace.h"

namespace pthrun::cli {

struct MemoryTimeline {
  std::vector<double> time_ms;                 // one point per event
  std::vector<std::string> categories;         // in order of first appearance
  std::vector<std::vector<double>> allocated;  // [category][point] bytes
  std::vector<double> reserved;                // [point] bytes
};

// At most `max_points` points: longer traces are bucketed, keeping each bucket's peak.
MemoryTimeline build_timeline(const TraceDocument& trace, std::size_t max_points = 2000);

struct Fragmentation {
  int64_t peak_allocated = 0;
  int64_t peak_reserved = 0;
  double peak_ratio = 0;         // peak reserved / peak allocated
  uint64_t largest_free_block = 0;
  uint64_t free_bytes = 0;       // in free blocks at the end
  int64_t segments = 0;
  int64_t inactive_split_bytes = 0;
};

Fragmentation fragmentation(const TraceDocument& trace);

std::string label_category(const std::string& label);

}  // namespace pthrun::cli
