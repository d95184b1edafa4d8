// Allocator settings, by API or from the environment variable PTHRUN_ALLOC_CONF:
//
//   PTHRUN_ALLOC_CONF="cap:4GiB,trace:1,trace_entries:100000"
//
// Keys (comma-separated key:value pairs, as PyTorch's PYTORCH_CUDA_ALLOC_CONF):
//   mode               caching (default) | nocache (every request straight to the device)
//                      | async (CUDA's stream-ordered pool, cudaMallocAsync; GPUs only)
//   cap                at most this many bytes reserved ("512MiB", "2GiB", "1000000")
//   cap_fraction       at most this fraction of the device's capacity (0 < f <= 1)
//   max_split_size_mb  blocks of at least this size are never split (default: no limit)
//   trace              1 to record a trace of allocator events
//   trace_entries      size of the trace ring (default 65536)
//   timing             1 to time every allocate and free (alloc_ns, free_ns in the stats)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pthrun {

enum class AllocatorMode { caching, nocache, async };

struct AllocatorConfig {
  AllocatorMode mode = AllocatorMode::caching;
  std::size_t cap_bytes = 0;  // 0: no cap in bytes
  double cap_fraction = 0;    // 0: no cap as a fraction
  std::size_t max_split_size = SIZE_MAX;
  bool trace = false;
  std::size_t trace_entries = 65536;
  bool timing = false;

  // Throws pthrun::Error naming the key or value it cannot accept.
  static AllocatorConfig parse(std::string_view text);
  // PTHRUN_ALLOC_CONF, or the defaults when it is unset.
  static AllocatorConfig from_env();
  std::string to_string() const;
};

// "512", "64KiB", "1.5GiB", "2GB" (decimal units too) -> bytes; throws pthrun::Error.
std::size_t parse_byte_size(std::string_view text);

}  // namespace pthrun
