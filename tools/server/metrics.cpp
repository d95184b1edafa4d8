#include "tools/server/metrics.h"

#include <cmath>
#include <cstdio>

#include "runtime/error.h"
#include "tools/alloc_timeline.h"

namespace pthrun::serve {

namespace {

std::string number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", value);
  return text;
}

void header(std::string& out, const std::string& name, const char* type, const char* help) {
  out += str("# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

// A label value as Prometheus quotes it.
std::string label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name) const {
  int64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const double bound = i < bounds_.size() ? bounds_[i] : INFINITY;
    out += str(name, "_bucket{le=\"", number(bound), "\"} ", cumulative, "\n");
  }
  out += str(name, "_sum ", number(sum_), "\n", name, "_count ", count_, "\n");
}

std::map<std::string, int64_t> allocated_by_scope(const Snapshot& snapshot) {
  std::map<std::string, int64_t> bytes;
  for (const SegmentInfo& segment : snapshot.segments)
    for (const BlockInfo& block : segment.blocks)
      if (block.state == BlockState::allocated) {
        const std::string scope = cli::label_category(block.label);
        bytes[scope.empty() ? "unlabelled" : scope] += static_cast<int64_t>(block.size);
      }
  return bytes;
}

Metrics::Metrics()
    : first_token_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30}),
      token_latency_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}) {}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{endpoint, status}];
}

void Metrics::add_prompt_tokens(int64_t n) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += n;
}

void Metrics::add_generated_tokens(int64_t n) {
  std::lock_guard lock(mutex_);
  generated_tokens_ += n;
}

void Metrics::observe_first_token(double seconds) {
  std::lock_guard lock(mutex_);
  first_token_.observe(seconds);
}

void Metrics::observe_token_latency(double seconds) {
  std::lock_guard lock(mutex_);
  token_latency_.observe(seconds);
}

void Metrics::set_engine_state(int64_t active_slots, int64_t total_slots, int64_t queued) {
  std::lock_guard lock(mutex_);
  active_slots_ = active_slots;
  total_slots_ = total_slots;
  queued_ = queued;
}

void Metrics::sample_memory(const Allocator& allocator) {
  const std::map<std::string, int64_t> now = allocated_by_scope(allocator.snapshot());
  std::lock_guard lock(mutex_);
  for (const auto& [scope, bytes] : now) scope_peak_[scope] = std::max(scope_peak_[scope], bytes);
}

std::string Metrics::render(const Allocator& allocator) {
  const AllocatorStats stats = allocator.stats();
  const std::map<std::string, int64_t> by_scope = allocated_by_scope(allocator.snapshot());
  const std::string device = label(allocator.device().to_string());
  std::lock_guard lock(mutex_);
  for (const auto& [scope, bytes] : by_scope) scope_peak_[scope] = std::max(scope_peak_[scope], bytes);

  std::string out;
  header(out, "pthrun_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
  for (const auto& [key, count] : requests_)
    out += str("pthrun_requests_total{endpoint=\"", label(key.first), "\",status=\"", key.second, "\"} ", count, "\n");
  header(out, "pthrun_prompt_tokens_total", "counter", "Prompt tokens prefilled.");
  out += str("pthrun_prompt_tokens_total ", prompt_tokens_, "\n");
  header(out, "pthrun_generated_tokens_total", "counter", "Tokens generated.");
  out += str("pthrun_generated_tokens_total ", generated_tokens_, "\n");
  header(out, "pthrun_time_to_first_token_seconds", "histogram", "From a job's arrival to its first token.");
  first_token_.render(out, "pthrun_time_to_first_token_seconds");
  header(out, "pthrun_time_per_output_token_seconds", "histogram", "Between consecutive tokens of a choice.");
  token_latency_.render(out, "pthrun_time_per_output_token_seconds");
  header(out, "pthrun_slots_active", "gauge", "Slots generating (KV-cache slots in use).");
  out += str("pthrun_slots_active ", active_slots_, "\n");
  header(out, "pthrun_slots_total", "gauge", "Slots of the session (KV-cache slots).");
  out += str("pthrun_slots_total ", total_slots_, "\n");
  header(out, "pthrun_queue_depth", "gauge", "Jobs waiting for a slot.");
  out += str("pthrun_queue_depth ", queued_, "\n");

  header(out, "pthrun_allocated_bytes", "gauge", "Bytes allocated now, by scope label (weights, kv_cache, ...).");
  for (const auto& [scope, bytes] : by_scope)
    out += str("pthrun_allocated_bytes{device=\"", device, "\",scope=\"", label(scope), "\"} ", bytes, "\n");
  out += str("pthrun_allocated_bytes{device=\"", device, "\",scope=\"all\"} ", stats.allocated_bytes[all_pools].current, "\n");
  header(out, "pthrun_allocated_bytes_peak", "gauge",
         "Peak bytes allocated: by scope, the highest sampled; for all, the allocator's own peak.");
  for (const auto& [scope, bytes] : scope_peak_)
    out += str("pthrun_allocated_bytes_peak{device=\"", device, "\",scope=\"", label(scope), "\"} ", bytes, "\n");
  out += str("pthrun_allocated_bytes_peak{device=\"", device, "\",scope=\"all\"} ", stats.allocated_bytes[all_pools].peak, "\n");
  header(out, "pthrun_reserved_bytes", "gauge", "Bytes the allocator holds from the device (segments).");
  out += str("pthrun_reserved_bytes{device=\"", device, "\"} ", stats.reserved_bytes[all_pools].current, "\n");
  header(out, "pthrun_reserved_bytes_peak", "gauge", "Peak bytes held from the device.");
  out += str("pthrun_reserved_bytes_peak{device=\"", device, "\"} ", stats.reserved_bytes[all_pools].peak, "\n");
  header(out, "pthrun_num_device_alloc_total", "counter", "Allocations from the device (cudaMalloc or host memory).");
  out += str("pthrun_num_device_alloc_total{device=\"", device, "\"} ", stats.num_device_alloc, "\n");
  header(out, "pthrun_num_device_free_total", "counter", "Segments returned to the device.");
  out += str("pthrun_num_device_free_total{device=\"", device, "\"} ", stats.num_device_free, "\n");
  header(out, "pthrun_num_cache_hits_total", "counter", "Allocations served from cached blocks.");
  out += str("pthrun_num_cache_hits_total{device=\"", device, "\"} ", stats.num_cache_hits, "\n");
  header(out, "pthrun_num_ooms_total", "counter", "Allocations that failed.");
  out += str("pthrun_num_ooms_total{device=\"", device, "\"} ", stats.num_ooms, "\n");
  return out;
}

}  // namespace pthrun::serve
