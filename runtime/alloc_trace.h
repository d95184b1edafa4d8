// Allocator traces and scope labels.
//
//   { AllocScope scope("load");                 // labels allocations made by this thread
//     AllocScope inner("tok_emb.weight");       // nested: "load/tok_emb.weight"
//     Tensor w = Tensor::empty(...); }
//   std::string json = trace_to_json(device_allocator(dev));
//
// When tracing is on (PTHRUN_ALLOC_CONF=trace:1), every alloc, free, segment alloc/free, OOM
// and empty_cache lands in a bounded ring with a timestamp, stream, size, address and the
// label of the scope it happened in. The JSON schema is documented in the README.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/allocator.h"

namespace pthrun {

enum class TraceAction : uint8_t {
  alloc,          // a block handed out
  free,           // a block returned (reusable at once)
  free_pending,   // a block returned but still in use by another stream
  free_complete,  // that stream's work finished: the block is reusable
  segment_alloc,  // memory obtained from the device
  segment_free,   // memory returned to the device
  oom,            // a request that failed
  empty_cache,    // the cache was emptied
};
const char* trace_action_name(TraceAction action);
bool parse_trace_action(std::string_view name, TraceAction* action);

struct TraceEvent {
  uint64_t time_ns = 0;  // since the allocator was created
  TraceAction action = TraceAction::alloc;
  StreamId stream = 0;
  uint64_t address = 0;
  uint64_t size = 0;       // block or segment bytes
  uint64_t requested = 0;  // bytes asked for (alloc, free, oom)
  uint32_t label = 0;      // see label_text()
  uint64_t device_free = 0;  // oom: what the device said it had free
};

// Labels are interned: a TraceEvent carries an id, label_text() gives the string. Id 0 is "".
uint32_t intern_label(std::string_view text);
std::string label_text(uint32_t label);
// The calling thread's current scope label.
uint32_t current_label();

// Sets the calling thread's scope label for its lifetime, nested under the enclosing scope.
class AllocScope {
 public:
  explicit AllocScope(std::string_view name);
  AllocScope(const AllocScope&) = delete;
  AllocScope& operator=(const AllocScope&) = delete;
  ~AllocScope();

 private:
  uint32_t saved_;
};

// A bounded ring of events: when full, the oldest are overwritten and counted as dropped.
// Capacity 0 means tracing is off; record() then costs one branch.
class TraceRing {
 public:
  explicit TraceRing(std::size_t capacity = 0);
  bool enabled() const { return !events_.empty(); }
  void record(TraceAction action, StreamId stream, const void* address, uint64_t size,
              uint64_t requested, uint32_t label, uint64_t device_free = 0) {
    if (enabled())
      push({now_ns(), action, stream, reinterpret_cast<uint64_t>(address), size, requested, label, device_free});
  }
  std::vector<TraceEvent> ordered() const;
  uint64_t dropped() const { return dropped_; }

 private:
  void push(const TraceEvent& event) {
    events_[next_] = event;
    if (++next_ == events_.size()) next_ = 0;
    if (count_ < events_.size()) ++count_; else ++dropped_;
  }
  uint64_t now_ns() const;

  std::chrono::steady_clock::time_point start_;
  std::vector<TraceEvent> events_;
  std::size_t next_ = 0, count_ = 0;
  uint64_t dropped_ = 0;
};

// A trace as exported: events with their labels resolved, plus the final snapshot and stats.
struct TraceDocument {
  std::string device;
  std::string mode;
  uint64_t capacity = 0;
  uint64_t dropped = 0;
  struct Event {
    TraceEvent event;  // its label field is unused here
    std::string label;
  };
  std::vector<Event> events;
  Snapshot snapshot;
  AllocatorStats stats;
};

TraceDocument capture_trace(const Allocator& allocator);
std::string trace_to_json(const TraceDocument& trace);
// Throws pthrun::Error naming what is wrong when the text is not such a document.
TraceDocument trace_from_json(std::string_view json);
// Writes the allocator's trace to `path` (via a temporary file, renamed when complete).
void write_trace_file(const Allocator& allocator, const std::string& path);

}  // namespace pthrun
