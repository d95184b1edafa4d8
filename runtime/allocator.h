// The allocator interface: what tensors, the loader and the model allocate through.
//
//   Allocator& alloc = device_allocator(cuda_device(0));
//   Allocation buffer = alloc.allocate(1 << 20, stream.id());   // freed when `buffer` dies
//   alloc.stats().allocated_bytes[all_pools].peak;
//
// Statistics use PyTorch's vocabulary (torch.cuda.memory_stats) where the concepts match; the
// README's "Allocator statistics" section gives the mapping.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/device.h"
#include "runtime/stream.h"

namespace pthrun {

// One counter in c10's shape: current value, its peak, and everything ever added and removed.
struct Stat {
  int64_t current = 0;
  int64_t peak = 0;
  int64_t allocated = 0;
  int64_t freed = 0;

  void increase(int64_t amount) {
    current += amount;
    allocated += amount;
    if (current > peak) peak = current;
  }
  void decrease(int64_t amount) {
    current -= amount;
    freed += amount;
  }
};

// Index into a StatArray: every counter is kept for all pools and for each pool.
enum PoolIndex : int { all_pools = 0, small_pool = 1, large_pool = 2 };
using StatArray = std::array<Stat, 3>;

struct AllocatorStats {
  StatArray allocated_bytes;       // live allocations, each rounded up to 512 B
  StatArray reserved_bytes;        // segments obtained from the device
  StatArray active_bytes;          // allocated, plus freed blocks still in use by another stream
  StatArray inactive_split_bytes;  // free blocks inside segments that are split
  StatArray requested_bytes;       // live allocations as requested, unrounded
  StatArray allocation;            // live allocations (count)
  StatArray segment;               // segments (count)
  StatArray active;                // active blocks (count)
  StatArray inactive_split;        // inactive split blocks (count)
  int64_t num_alloc_retries = 0;   // allocations that had to release the cache and retry
  int64_t num_ooms = 0;            // allocations that failed even after the retry
  int64_t num_device_alloc = 0;    // calls to the backend's allocate (cudaMalloc)
  int64_t num_device_free = 0;     // calls to the backend's deallocate (cudaFree)
  int64_t num_cache_hits = 0;      // allocations served from cached blocks
  int64_t alloc_ns = 0;            // time spent in allocate() and in frees, with timing:1
  int64_t free_ns = 0;
};

// A block's state in a snapshot.
enum class BlockState : uint8_t { allocated, free, pending_free };
const char* block_state_name(BlockState state);

struct BlockInfo {
  uint64_t address = 0;
  uint64_t size = 0;       // bytes the block spans
  uint64_t requested = 0;  // bytes asked for (0 when free)
  BlockState state = BlockState::free;
  std::string label;       // scope label at allocation time
};

struct SegmentInfo {
  uint64_t address = 0;
  uint64_t size = 0;
  StreamId stream = 0;
  bool small = false;  // from the small pool
  std::vector<BlockInfo> blocks;  // by address, tiling the segment
};

struct Snapshot {
  std::vector<SegmentInfo> segments;  // by address
};

class Allocator;

// A move-only handle to allocated bytes; returns them to its allocator on destruction.
class Allocation {
 public:
  Allocation() = default;
  Allocation(Allocation&& other) noexcept;
  Allocation& operator=(Allocation&& other) noexcept;
  Allocation(const Allocation&) = delete;
  Allocation& operator=(const Allocation&) = delete;
  ~Allocation() { reset(); }

  void* get() const { return ptr_; }
  std::size_t size() const { return size_; }  // bytes requested
  Allocator* allocator() const { return owner_; }
  explicit operator bool() const { return ptr_ != nullptr || owner_ != nullptr; }
  void reset() noexcept;

 private:
  friend class Allocator;
  Allocation(void* ptr, std::size_t size, Allocator* owner, void* block)
      : ptr_(ptr), size_(size), owner_(owner), block_(block) {}

  void* ptr_ = nullptr;
  std::size_t size_ = 0;
  Allocator* owner_ = nullptr;
  void* block_ = nullptr;  // the allocator's own record of the block
};

struct TraceEvent;

class Allocator {
 public:
  virtual ~Allocator() = default;

  virtual Device device() const = 0;
  // A name for reports: "caching", "no-caching", "cuda-async".
  virtual std::string mode() const = 0;
  // Throws OutOfMemory when the request cannot be met.
  virtual Allocation allocate(std::size_t bytes, StreamId stream = 0) = 0;
  // Declares that `allocation` is also used by work on `stream`: once freed, its memory is
  // reused only after the work submitted to `stream` until the free has finished.
  virtual void record_stream(const Allocation& allocation, StreamId stream) = 0;

  virtual AllocatorStats stats() const = 0;
  virtual void reset_peak() = 0;
  virtual void reset_accumulated() = 0;
  // Returns cached, unused segments to the device.
  virtual void empty_cache() = 0;
  // A hint that a series of large allocations totalling `bytes` follows on `stream` (a
  // model's weights): a caching allocator obtains them as one segment. Others ignore it.
  virtual void reserve(std::size_t bytes, StreamId stream = 0) {
    (void)bytes;
    (void)stream;
  }
  virtual Snapshot snapshot() const = 0;
  // The trace's events, oldest first (empty when tracing is off), and how many the ring dropped.
  virtual std::vector<TraceEvent> trace_events(uint64_t* dropped = nullptr) const = 0;
  // Bytes the device has and has free, as the backend reports them.
  virtual std::size_t device_capacity() const = 0;
  virtual std::size_t device_free() const = 0;

 protected:
  Allocation make_allocation(void* ptr, std::size_t size, void* block) {
    return Allocation(ptr, size, this, block);
  }
  static void* block_of(const Allocation& allocation) { return allocation.block_; }

 private:
  friend class Allocation;
  virtual void release(void* block) noexcept = 0;
};

struct AllocatorConfig;

// A new allocator for `device` as `config` says: pthrun's caching allocator (or its no-caching
// mode) over cudaMalloc for cuda:N and over aligned host memory for the CPU, or CUDA's
// stream-ordered pool (mode async, GPUs only).
std::unique_ptr<Allocator> make_allocator(Device device, const AllocatorConfig& config);

// The process-wide allocator of a device, made on first use with the configured settings.
Allocator& device_allocator(Device device);

// The settings device_allocator() makes allocators with. Allocators read them once, when made:
// configure before the first allocation on any device (pthrun's main() does, from the
// environment variable PTHRUN_ALLOC_CONF); afterwards a different configuration is refused with
// a pthrun::Error. Without a call, the settings are read from PTHRUN_ALLOC_CONF when the first
// allocator is made.
void configure_allocators(const AllocatorConfig& config);
AllocatorConfig allocator_config();

}  // namespace pthrun
