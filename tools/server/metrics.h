// The server's figures, in Prometheus' text format (GET /metrics): requests by endpoint and
// status, tokens, latency histograms, slots and queue, and the allocator's statistics by
// pthrun's names (runtime/allocator.h), allocated memory split by scope label.
//
//   Metrics metrics;
//   metrics.count_request("/v1/completions", 200);
//   metrics.observe_first_token(0.084);
//   std::string text = metrics.render(device_allocator(cpu_device));
//
// Thread-safe: HTTP threads and the engine thread record, any thread renders.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "runtime/allocator.h"

namespace pthrun::serve {

// Cumulative buckets as Prometheus defines them: counts[i] observations <= bounds[i].
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  void render(std::string& out, const std::string& name) const;

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bucket, not cumulative; the last is +Inf
  double sum_ = 0;
  int64_t count_ = 0;
};

// Allocated bytes by scope category ("kv_cache/server" -> "kv_cache") in `snapshot`.
std::map<std::string, int64_t> allocated_by_scope(const Snapshot& snapshot);

class Metrics {
 public:
  Metrics();

  void count_request(const std::string& endpoint, int status);
  void add_prompt_tokens(int64_t n);
  void add_generated_tokens(int64_t n);
  void observe_first_token(double seconds);
  void observe_token_latency(double seconds);
  void set_engine_state(int64_t active_slots, int64_t total_slots, int64_t queued);
  // Samples the allocator's memory by scope (peaks by scope are the highest sampled).
  void sample_memory(const Allocator& allocator);

  std::string render(const Allocator& allocator);

 private:
  std::mutex mutex_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  int64_t prompt_tokens_ = 0, generated_tokens_ = 0;
  Histogram first_token_, token_latency_;
  int64_t active_slots_ = 0, total_slots_ = 0, queued_ = 0;
  std::map<std::string, int64_t> scope_peak_;
};

}  // namespace pthrun::serve
