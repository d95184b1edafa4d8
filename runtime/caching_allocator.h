// The caching allocator: one device-agnostic implementation over a MemoryBackend.
//
//   CachingAllocator alloc(make_cuda_backend(cuda_device(0)));
//   Allocation a = alloc.allocate(4096, stream.id());
//
// Design (as PyTorch's CUDACachingAllocator, see the README's "Allocator" notes):
// - requests are rounded up to 512 B;
// - a small pool serves requests of at most 1 MiB from 2 MiB segments; a large pool serves the
//   rest from segments rounded up to 2 MiB (reserve() can obtain one big segment up front);
// - best fit among the free blocks of the requesting stream; a block is split when the
//   remainder is at least 512 B, and the remainder stays free; adjacent free blocks of a segment
//   are merged when freed; blocks of at least max_split_size are never split, and a request of
//   that size takes a cached block only when it wastes less than 20 MiB ("oversize");
// - a freed block is reusable at once on its own stream; after record_stream() it waits until
//   the recorded streams' work is done (checked with events on later allocations);
// - when the device (or the cap) refuses a segment, cached free segments are released and the
//   request is retried once; then OutOfMemory is thrown with the allocator's figures.
// Thread-safe; a cache hit makes no backend (CUDA) call.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <set>

#include "runtime/alloc_config.h"
#include "runtime/alloc_trace.h"
#include "runtime/allocator.h"
#include "runtime/memory_backend.h"

namespace pthrun {

class CachingAllocator final : public Allocator {
 public:
  static constexpr std::size_t kRound = 512;
  static constexpr std::size_t kSmallRequest = 1 << 20;  // requests up to this use the small pool
  static constexpr std::size_t kSmallSegment = 2 << 20;
  static constexpr std::size_t kLargeRound = 2 << 20;
  static constexpr std::size_t kOversizeWaste = 20 << 20;

  explicit CachingAllocator(std::unique_ptr<MemoryBackend> backend, AllocatorConfig config = {});
  ~CachingAllocator() override;

  Device device() const override { return backend_->device(); }
  std::string mode() const override;
  Allocation allocate(std::size_t bytes, StreamId stream = 0) override;
  void record_stream(const Allocation& allocation, StreamId stream) override;
  AllocatorStats stats() const override;
  void reset_peak() override;
  void reset_accumulated() override;
  void empty_cache() override;
  Snapshot snapshot() const override;
  std::vector<TraceEvent> trace_events(uint64_t* dropped = nullptr) const override;
  std::size_t device_capacity() const override { return backend_->capacity(); }
  std::size_t device_free() const override { return backend_->free_memory(); }

  // Obtains one large-pool segment of at least `bytes` for a series of large allocations on
  // `stream` (a model's weights), so that they are carved from it rather than from segments
  // of their own. Throws OutOfMemory like allocate(); a no-op in no-caching mode.
  void reserve(std::size_t bytes, StreamId stream = 0) override;
  // Caps reserved bytes (0 removes the cap); the configured cap_fraction still applies.
  void set_cap(std::size_t bytes);
  // The most bytes that may be reserved: the tighter of the caps, else the device's capacity.
  std::size_t memory_limit() const;
  const AllocatorConfig& config() const { return config_; }
  MemoryBackend& backend() { return *backend_; }

 private:
  struct Block;
  struct BlockOrder {
    bool operator()(const Block* a, const Block* b) const;
  };
  // Free-block sets allocate one node per insert; this resource recycles those nodes through
  // a free list, which keeps a cache hit well under 100 ns (see `pthrun alloc-bench`).
  class NodePool final : public std::pmr::memory_resource {
   public:
    ~NodePool() override;

   private:
    struct FreeNode {
      FreeNode* next;
    };
    void* do_allocate(std::size_t bytes, std::size_t alignment) override;
    void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
    FreeNode* free_ = nullptr;
    std::size_t node_bytes_ = 0;
  };
  using BlockSet = std::pmr::set<Block*, BlockOrder>;
  struct Segment {
    Block* head;  // the block at the segment's start; it survives every merge
    std::size_t size;
  };
  struct PendingEvent {
    MemoryBackend::EventId event;
    Block* block;
  };

  void release(void* block) noexcept override;

  Block* make_block(char* ptr, std::size_t size, StreamId stream, bool small);
  void recycle(Block* block);
  Block* find_free_block(std::size_t size, StreamId stream, bool small);
  Block* new_segment(std::size_t size, StreamId stream, bool small);
  Block* new_segment_or_throw(std::size_t size, std::size_t requested, StreamId stream, bool small);
  void free_block(Block* block);
  void release_segment(Block* head);
  void release_cached_segments();
  void process_events();
  void wait_all_events();
  [[noreturn]] void throw_oom(std::size_t requested, std::size_t segment_size);
  BlockSet& pool(bool small) { return small ? small_free_ : large_free_; }
  void update(StatArray& stat, bool small, int64_t delta);
  std::size_t limit_locked() const;

  std::unique_ptr<MemoryBackend> backend_;
  AllocatorConfig config_;
  mutable std::mutex mutex_;
  NodePool node_pool_;
  BlockSet small_free_{&node_pool_};
  BlockSet large_free_{&node_pool_};
  std::map<uintptr_t, Segment> segments_;
  std::deque<PendingEvent> pending_;
  std::vector<Block*> spare_blocks_;
  AllocatorStats stats_;
  TraceRing trace_;
};

}  // namespace pthrun
