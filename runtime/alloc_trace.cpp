#include "runtime/alloc_trace.h"

#include <cstdio>
#include <mutex>
#include <unordered_map>

#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/json.h"

namespace pthrun {

namespace {

struct LabelTable {
  std::mutex mutex;
  std::vector<std::string> texts{""};
  std::unordered_map<std::string, uint32_t> ids{{"", 0}};
};

LabelTable& labels() {
  static auto* table = new LabelTable;  // never destroyed: used from other statics' destructors
  return *table;
}

thread_local uint32_t current_label_id = 0;

constexpr const char* action_names[] = {"alloc",         "free",        "free_pending",
                                        "free_complete", "segment_alloc", "segment_free",
                                        "oom",           "empty_cache"};

constexpr const char* trace_schema = "pthrun.alloc_trace/1";

}  // namespace

const char* trace_action_name(TraceAction action) {
  return action_names[static_cast<std::size_t>(action)];
}

bool parse_trace_action(std::string_view name, TraceAction* action) {
  for (std::size_t i = 0; i < std::size(action_names); ++i) {
    if (name == action_names[i]) {
      *action = static_cast<TraceAction>(i);
      return true;
    }
  }
  return false;
}

const char* block_state_name(BlockState state) {
  switch (state) {
    case BlockState::allocated: return "allocated";
    case BlockState::free: return "free";
    case BlockState::pending_free: return "pending_free";
  }
  return "?";
}

uint32_t intern_label(std::string_view text) {
  LabelTable& table = labels();
  std::lock_guard lock(table.mutex);
  auto [it, inserted] = table.ids.try_emplace(std::string(text), static_cast<uint32_t>(table.texts.size()));
  if (inserted) table.texts.emplace_back(text);
  return it->second;
}

std::string label_text(uint32_t label) {
  LabelTable& table = labels();
  std::lock_guard lock(table.mutex);
  return label < table.texts.size() ? table.texts[label] : std::string();
}

uint32_t current_label() { return current_label_id; }

AllocScope::AllocScope(std::string_view name) : saved_(current_label_id) {
  std::string outer = label_text(saved_);
  current_label_id = intern_label(outer.empty() ? std::string(name) : str(outer, "/", name));
}

AllocScope::~AllocScope() { current_label_id = saved_; }

TraceRing::TraceRing(std::size_t capacity)
    : start_(std::chrono::steady_clock::now()), events_(capacity) {}

uint64_t TraceRing::now_ns() const {
  auto elapsed = std::chrono::steady_clock::now() - start_;
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
}

std::vector<TraceEvent> TraceRing::ordered() const {
  std::vector<TraceEvent> out;
  out.reserve(count_);
  std::size_t first = count_ < events_.size() ? 0 : next_;
  for (std::size_t i = 0; i < count_; ++i) out.push_back(events_[(first + i) % events_.size()]);
  return out;
}

TraceDocument capture_trace(const Allocator& allocator) {
  TraceDocument doc;
  doc.device = allocator.device().to_string();
  doc.mode = allocator.mode();
  doc.capacity = allocator.device_capacity();
  for (const TraceEvent& event : allocator.trace_events(&doc.dropped))
    doc.events.push_back({event, label_text(event.label)});
  doc.snapshot = allocator.snapshot();
  doc.stats = allocator.stats();
  return doc;
}

namespace {

// The named counters of AllocatorStats, in one table so that export and import cannot drift.
struct StatField {
  const char* name;
  StatArray AllocatorStats::*field;
};
constexpr StatField stat_fields[] = {
    {"allocated_bytes", &AllocatorStats::allocated_bytes},
    {"reserved_bytes", &AllocatorStats::reserved_bytes},
    {"active_bytes", &AllocatorStats::active_bytes},
    {"inactive_split_bytes", &AllocatorStats::inactive_split_bytes},
    {"requested_bytes", &AllocatorStats::requested_bytes},
    {"allocation", &AllocatorStats::allocation},
    {"segment", &AllocatorStats::segment},
    {"active", &AllocatorStats::active},
    {"inactive_split", &AllocatorStats::inactive_split},
};
struct CounterField {
  const char* name;
  int64_t AllocatorStats::*field;
};
constexpr CounterField counter_fields[] = {
    {"num_alloc_retries", &AllocatorStats::num_alloc_retries},
    {"num_ooms", &AllocatorStats::num_ooms},
    {"num_device_alloc", &AllocatorStats::num_device_alloc},
    {"num_device_free", &AllocatorStats::num_device_free},
    {"num_cache_hits", &AllocatorStats::num_cache_hits},
    {"alloc_ns", &AllocatorStats::alloc_ns},
    {"free_ns", &AllocatorStats::free_ns},
};
constexpr const char* pool_names[] = {"all", "small_pool", "large_pool"};
constexpr const char* stat_parts[] = {"current", "peak", "allocated", "freed"};

int64_t Stat::*stat_part(std::size_t i) {
  static constexpr int64_t Stat::*parts[] = {&Stat::current, &Stat::peak, &Stat::allocated, &Stat::freed};
  return parts[i];
}

void write_stats(JsonWriter& out, const AllocatorStats& stats) {
  out.begin_object();
  for (const StatField& field : stat_fields) {
    out.key(field.name).begin_object();
    for (std::size_t pool = 0; pool < 3; ++pool) {
      out.key(pool_names[pool]).begin_object();
      for (std::size_t part = 0; part < 4; ++part)
        out.key(stat_parts[part]).value((stats.*field.field)[pool].*stat_part(part));
      out.end_object();
    }
    out.end_object();
  }
  for (const CounterField& field : counter_fields) out.key(field.name).value(stats.*field.field);
  out.end_object();
}

AllocatorStats read_stats(const JsonValue& json) {
  AllocatorStats stats;
  for (const StatField& field : stat_fields) {
    const JsonValue& pools = json_at(json, field.name);
    for (std::size_t pool = 0; pool < 3; ++pool)
      for (std::size_t part = 0; part < 4; ++part)
        (stats.*field.field)[pool].*stat_part(part) = json_int(json_at(pools, pool_names[pool]), stat_parts[part]);
  }
  for (const CounterField& field : counter_fields) stats.*field.field = json_int(json, field.name);
  return stats;
}

}  // namespace

std::string trace_to_json(const TraceDocument& trace) {
  JsonWriter out;
  out.begin_object();
  out.key("schema").value(trace_schema);
  out.key("device").value(trace.device);
  out.key("mode").value(trace.mode);
  out.key("capacity").value(trace.capacity);
  out.key("dropped").value(trace.dropped);
  out.key("events").begin_array();
  for (const TraceDocument::Event& e : trace.events) {
    out.newline().begin_object();
    out.key("t_ns").value(e.event.time_ns);
    out.key("action").value(trace_action_name(e.event.action));
    out.key("stream").value(static_cast<uint64_t>(e.event.stream));
    out.key("addr").value(e.event.address);
    out.key("size").value(e.event.size);
    out.key("requested").value(e.event.requested);
    out.key("label").value(e.label);
    if (e.event.action == TraceAction::oom) out.key("device_free").value(e.event.device_free);
    out.end_object();
  }
  out.end_array();
  out.newline().key("snapshot").begin_object().key("segments").begin_array();
  for (const SegmentInfo& segment : trace.snapshot.segments) {
    out.newline().begin_object();
    out.key("addr").value(segment.address);
    out.key("size").value(segment.size);
    out.key("stream").value(static_cast<uint64_t>(segment.stream));
    out.key("pool").value(segment.small ? "small" : "large");
    out.key("blocks").begin_array();
    for (const BlockInfo& block : segment.blocks) {
      out.begin_object();
      out.key("addr").value(block.address);
      out.key("size").value(block.size);
      out.key("requested").value(block.requested);
      out.key("state").value(block_state_name(block.state));
      out.key("label").value(block.label);
      out.end_object();
    }
    out.end_array().end_object();
  }
  out.end_array().end_object();
  out.newline().key("stats");
  write_stats(out, trace.stats);
  out.end_object().newline();
  return out.take();
}

TraceDocument trace_from_json(std::string_view text) {
  const JsonValue json = parse_json(text);
  const JsonValue* schema = json_find(json, "schema");
  PTHRUN_CHECK(schema && schema->is_string() && json_string(*schema) == trace_schema,
               "not a pthrun allocator trace (expected \"schema\": \"", trace_schema, "\")");
  TraceDocument doc;
  doc.device = json_string(json, "device");
  doc.mode = json_string(json, "mode");
  doc.capacity = json_uint(json, "capacity");
  doc.dropped = json_uint(json, "dropped");
  for (const JsonValue& e : json_array(json, "events")) {
    TraceDocument::Event event;
    const std::string& action = json_string(e, "action");
    PTHRUN_CHECK(parse_trace_action(action, &event.event.action), "unknown trace action '", action, "'");
    event.event.time_ns = json_uint(e, "t_ns");
    event.event.stream = json_uint(e, "stream");
    event.event.address = json_uint(e, "addr");
    event.event.size = json_uint(e, "size");
    event.event.requested = json_uint(e, "requested");
    event.label = json_string(e, "label");
    if (json_find(e, "device_free")) event.event.device_free = json_uint(e, "device_free");
    doc.events.push_back(std::move(event));
  }
  for (const JsonValue& s : json_array(json_at(json, "snapshot"), "segments")) {
    SegmentInfo segment;
    segment.address = json_uint(s, "addr");
    segment.size = json_uint(s, "size");
    segment.stream = json_uint(s, "stream");
    segment.small = json_string(s, "pool") == "small";
    for (const JsonValue& b : json_array(s, "blocks")) {
      BlockInfo block;
      block.address = json_uint(b, "addr");
      block.size = json_uint(b, "size");
      block.requested = json_uint(b, "requested");
      const std::string& state = json_string(b, "state");
      block.state = state == "allocated"      ? BlockState::allocated
                    : state == "pending_free" ? BlockState::pending_free
                                              : BlockState::free;
      block.label = json_string(b, "label");
      segment.blocks.push_back(std::move(block));
    }
    doc.snapshot.segments.push_back(std::move(segment));
  }
  doc.stats = read_stats(json_at(json, "stats"));
  return doc;
}

void write_trace_file(const Allocator& allocator, const std::string& path) {
  write_file_atomically(path, trace_to_json(capture_trace(allocator)));
}

}  // namespace pthrun
