// Host memory probes: the process's resident set, for tests and benchmarks that prove how
// little host memory a load needs.
//
//   reset_peak_rss();
//   HostMemorySampler sampler;               // samples anonymous RSS every millisecond
//   load(...);
//   std::size_t growth = sampler.peak().anon_rss - before.anon_rss;
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <thread>

namespace pthrun {

struct HostMemory {
  std::size_t rss = 0;       // VmRSS: resident bytes, mapped file pages included
  std::size_t peak_rss = 0;  // VmHWM: the kernel's high-water mark of rss
  std::size_t anon_rss = 0;  // RssAnon: resident anonymous bytes (heap, stacks, private copies)
  std::size_t file_rss = 0;  // RssFile: resident file-backed bytes (a mapped checkpoint's pages)
};

// Reads /proc/self/status; zeros where the kernel does not report a field.
HostMemory host_memory();
// Resets VmHWM to the current RSS (Linux's /proc/self/clear_refs); false when not permitted.
bool reset_peak_rss();

// Samples host_memory() on a thread of its own and keeps the peaks; the kernel keeps no peak
// of anonymous memory, so sampling is the only way to see it.
class HostMemorySampler {
 public:
  explicit HostMemorySampler(std::chrono::microseconds interval = std::chrono::milliseconds(1));
  HostMemorySampler(const HostMemorySampler&) = delete;
  HostMemorySampler& operator=(const HostMemorySampler&) = delete;
  ~HostMemorySampler();

  // Peaks so far (peak_rss is the kernel's own).
  HostMemory peak() const;

 private:
  void sample();
  std::atomic<std::size_t> peak_anon_{0}, peak_rss_{0}, peak_file_{0};
  std::atomic<bool> stop_{false};
  std::chrono::microseconds interval_;
  std::thread thread_;
};

}  // namespace pthrun
