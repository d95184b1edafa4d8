#include "tools/memory_viz.h"

#include <vector>

#include "loader/pth_writer.h"
#include "loader/value.h"
#include "runtime/device.h"

namespace pthrun::cli {

namespace {

Value dict(std::vector<std::pair<const char*, Value>> entries) {
  std::vector<Value> keys, values;
  for (auto& [key, value] : entries) {
    keys.push_back(Value::string(key));
    values.push_back(std::move(value));
  }
  return Value::dict(std::move(keys), std::move(values));
}

Value integer(uint64_t n) { return Value::integer(static_cast<int64_t>(n)); }

// PyTorch's frames are the Python stack of the allocation; ours is the scope label.
Value frames(const std::string& label) {
  if (label.empty()) return Value::list({});
  return Value::list({dict({{"filename", Value::string("pthrun scope")}, {"line", Value::integer(0)},
                            {"name", Value::string(label)}})});
}

const char* block_state(BlockState state) {
  switch (state) {
    case BlockState::allocated: return "active_allocated";
    case BlockState::pending_free: return "active_pending_free";
    case BlockState::free: return "inactive";
  }
  return "inactive";
}

Value segment(const SegmentInfo& s, int device) {
  std::vector<Value> blocks;
  uint64_t allocated = 0, active = 0, requested = 0;
  for (const BlockInfo& b : s.blocks) {
    if (b.state == BlockState::allocated) allocated += b.size;
    if (b.state != BlockState::free) active += b.size;
    requested += b.requested;
    blocks.push_back(dict({{"address", integer(b.address)},
                           {"size", integer(b.size)},
                           {"requested_size", integer(b.requested)},
                           {"state", Value::string(block_state(b.state))},
                           {"frames", frames(b.label)}}));
  }
  return dict({{"device", Value::integer(device)},
               {"address", integer(s.address)},
               {"total_size", integer(s.size)},
               {"allocated_size", integer(allocated)},
               {"active_size", integer(active)},
               {"requested_size", integer(requested)},
               {"stream", integer(s.stream)},
               {"segment_type", Value::string(s.small ? "small" : "large")},
               {"segment_pool_id", Value::tuple({Value::integer(0), Value::integer(0)})},
               {"is_expandable", Value::boolean(false)},
               {"frames", Value::list({})},
               {"blocks", Value::list(std::move(blocks))}});
}

Value event(const char* action, const TraceDocument::Event& e) {
  std::vector<std::pair<const char*, Value>> entries = {
      {"action", Value::string(action)},         {"addr", integer(e.event.address)},
      {"size", integer(e.event.size)},           {"stream", integer(e.event.stream)},
      {"time_us", integer(e.event.time_ns / 1000)}, {"frames", frames(e.label)}};
  if (e.event.action == TraceAction::oom) entries.push_back({"device_free", integer(e.event.device_free)});
  return dict(std::move(entries));
}

}  // namespace

std::string memory_viz_pickle(const TraceDocument& trace) {
  const Device device = parse_device(trace.device);
  const int index = device.is_cuda() ? device.index : 0;
  std::vector<Value> segments;
  for (const SegmentInfo& s : trace.snapshot.segments) segments.push_back(segment(s, index));

  std::vector<Value> events;
  for (const TraceDocument::Event& e : trace.events) {
    switch (e.event.action) {
      case TraceAction::alloc: events.push_back(event("alloc", e)); break;
      case TraceAction::free:  // freed and reusable at once: both of PyTorch's steps
        events.push_back(event("free_requested", e));
        events.push_back(event("free_completed", e));
        break;
      case TraceAction::free_pending: events.push_back(event("free_requested", e)); break;
      case TraceAction::free_complete: events.push_back(event("free_completed", e)); break;
      case TraceAction::segment_alloc: events.push_back(event("segment_alloc", e)); break;
      case TraceAction::segment_free: events.push_back(event("segment_free", e)); break;
      case TraceAction::oom: events.push_back(event("oom", e)); break;
      case TraceAction::empty_cache: break;  // PyTorch records it as the segment_free events
    }
  }
  std::vector<Value> device_traces(static_cast<std::size_t>(index), Value::list({}));
  device_traces.push_back(Value::list(std::move(events)));
  return pickle_value(dict({{"segments", Value::list(std::move(segments))},
                            {"device_traces", Value::list(std::move(device_traces))},
                            {"allocator_settings", dict({{"PYTORCH_CUDA_ALLOC_CONF", Value::string(trace.mode)}})}}));
}

}  // namespace pthrun::cli
