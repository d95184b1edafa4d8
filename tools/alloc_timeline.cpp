#include "tools/alloc_timeline.h"

#include <algorithm>
#include <map>

#include "runtime/error.h"

namespace pthrun::cli {

namespace {

// How an event changes allocated bytes (of its label's category) and reserved bytes.
struct Delta {
  int64_t allocated = 0;
  int64_t reserved = 0;
};

Delta delta_of(const TraceEvent& e) {
  const auto size = static_cast<int64_t>(e.size);
  switch (e.action) {
    case TraceAction::alloc: return {size, 0};
    case TraceAction::free:
    case TraceAction::free_pending: return {-size, 0};
    case TraceAction::segment_alloc: return {0, size};
    case TraceAction::segment_free: return {0, -size};
    default: return {};
  }
}

}  // namespace

std::string label_category(const std::string& label) {
  if (label.empty()) return "unlabelled";
  return label.substr(0, label.find('/'));
}

MemoryTimeline build_timeline(const TraceDocument& trace, std::size_t max_points) {
  PTHRUN_CHECK(!trace.events.empty(), "the trace holds no events: record one with tracing on "
                                      "(pthrun generate --alloc-trace FILE, or PTHRUN_ALLOC_CONF=trace:1)");
  MemoryTimeline timeline;
  std::map<std::string, std::size_t> index;
  auto category = [&](const std::string& label) {
    const std::string name = label_category(label);
    auto [it, added] = index.try_emplace(name, timeline.categories.size());
    if (added) timeline.categories.push_back(name);
    return it->second;
  };
  for (const auto& e : trace.events) category(e.label);

  // The end state, from the snapshot; then the state before the first recorded event.
  std::vector<int64_t> allocated(timeline.categories.size(), 0);
  int64_t reserved = 0;
  for (const SegmentInfo& segment : trace.snapshot.segments) {
    reserved += static_cast<int64_t>(segment.size);
    for (const BlockInfo& block : segment.blocks) {
      if (block.state != BlockState::allocated) continue;
      const std::size_t c = category(block.label);
      allocated.resize(timeline.categories.size(), 0);
      allocated[c] += static_cast<int64_t>(block.size);
    }
  }
  for (const auto& e : trace.events) {
    const Delta d = delta_of(e.event);
    allocated[index.at(label_category(e.label))] -= d.allocated;
    reserved -= d.reserved;
  }

  const std::size_t n = trace.events.size();
  const std::size_t stride = std::max<std::size_t>(1, (n + max_points - 1) / std::max<std::size_t>(max_points, 1));
  timeline.allocated.assign(timeline.categories.size(), {});
  int64_t bucket_peak = -1;
  std::vector<int64_t> peak_allocated;
  int64_t peak_reserved = 0;
  double peak_time = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& e = trace.events[i];
    const Delta d = delta_of(e.event);
    allocated[index.at(label_category(e.label))] += d.allocated;
    reserved += d.reserved;
    int64_t total = reserved;
    for (int64_t a : allocated) total += a;
    if (total > bucket_peak) {  // the bucket's fullest moment represents it
      bucket_peak = total;
      peak_allocated = allocated;
      peak_reserved = reserved;
      peak_time = static_cast<double>(e.event.time_ns) / 1e6;
    }
    if ((i + 1) % stride == 0 || i + 1 == n) {
      timeline.time_ms.push_back(peak_time);
      for (std::size_t c = 0; c < allocated.size(); ++c)
        timeline.allocated[c].push_back(static_cast<double>(peak_allocated[c]));
      timeline.reserved.push_back(static_cast<double>(peak_reserved));
      bucket_peak = -1;
    }
  }
  return timeline;
}

Fragmentation fragmentation(const TraceDocument& trace) {
  Fragmentation f;
  f.peak_allocated = trace.stats.allocated_bytes[all_pools].peak;
  f.peak_reserved = trace.stats.reserved_bytes[all_pools].peak;
  f.peak_ratio = f.peak_allocated > 0 ? static_cast<double>(f.peak_reserved) / static_cast<double>(f.peak_allocated) : 0;
  f.segments = static_cast<int64_t>(trace.snapshot.segments.size());
  f.inactive_split_bytes = trace.stats.inactive_split_bytes[all_pools].current;
  for (const SegmentInfo& segment : trace.snapshot.segments) {
    for (const BlockInfo& block : segment.blocks) {
      if (block.state != BlockState::free) continue;
      f.free_bytes += block.size;
      f.largest_free_block = std::max(f.largest_free_block, block.size);
    }
  }
  return f;
}

}  // namespace pthrun::cli
