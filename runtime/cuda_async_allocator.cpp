// An Allocator over CUDA's stream-ordered pool (cudaMallocAsync, through the CUDA backend), so
// that `pthrun alloc-compare` can set pthrun's caching allocator against the driver's own. The
// pool keeps freed memory (release threshold: unlimited), as PyTorch configures it. Frees come
// from noexcept code and only warn on failure.
#include <algorithm>
#include <chrono>
#include <memory>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "runtime/alloc_config.h"
#include "runtime/alloc_trace.h"
#include "runtime/allocator.h"
#include "runtime/cuda_plugin.h"
#include "runtime/error.h"

namespace pthrun {

namespace {

class CudaAsyncAllocator final : public Allocator {
 public:
  CudaAsyncAllocator(Device device, const AllocatorConfig& config)
      : device_(device), api_((check_device(device), cuda_plugin())), config_(config),
        trace_(config.trace ? config.trace_entries : 0) {
    PTHRUN_CHECK(config.cap_bytes == 0 && config.cap_fraction == 0,
                 "PTHRUN_ALLOC_CONF: cap and cap_fraction apply to modes caching and nocache, not async");
    cuda_check(api_.pool_open(device_.index, &pool_));
    std::size_t free = 0;
    cuda_check(api_.memory_info(device_.index, &free, &capacity_));
  }

  Device device() const override { return device_; }
  std::string mode() const override { return "cuda-async"; }

  Allocation allocate(std::size_t bytes, StreamId stream) override {
    const auto start = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    void* ptr = nullptr;
    const auto native = reinterpret_cast<void*>(stream);
    const std::size_t size = std::max<std::size_t>(bytes, 1);
    cuda_check(api_.pool_malloc(device_.index, size, native, &ptr));
    if (!ptr) {  // out of memory: give the pool's cached memory back and try once more
      ++stats_.num_alloc_retries;
      cuda_check(api_.pool_trim(device_.index, pool_));
      cuda_check(api_.pool_malloc(device_.index, size, native, &ptr));
    }
    if (!ptr) {
      ++stats_.num_ooms;
      trace_.record(TraceAction::oom, stream, nullptr, bytes, bytes, current_label(), device_free());
      throw OutOfMemory(bytes, str("out of memory on ", device_.to_string(), ": tried to allocate ",
                                   format_bytes(static_cast<double>(bytes)), " (", bytes,
                                   " bytes) from CUDA's stream-ordered pool; device capacity ",
                                   format_bytes(static_cast<double>(capacity_)), ", ",
                                   format_bytes(static_cast<double>(device_free())), " free"));
    }
    ++stats_.num_device_alloc;
    auto& block = live_[ptr];
    block = Block{ptr, bytes, stream, current_label(), {}};
    bump(stats_.allocation, 1);
    bump(stats_.allocated_bytes, static_cast<int64_t>(bytes));
    bump(stats_.requested_bytes, static_cast<int64_t>(bytes));
    bump(stats_.active, 1);
    bump(stats_.active_bytes, static_cast<int64_t>(bytes));
    trace_.record(TraceAction::alloc, stream, ptr, bytes, bytes, block.label);
    if (config_.timing) stats_.alloc_ns += elapsed_ns(start);
    return make_allocation(ptr, bytes, ptr);
  }

  void record_stream(const Allocation& allocation, StreamId stream) override {
    std::lock_guard lock(mutex_);
    auto it = live_.find(block_of(allocation));
    PTHRUN_CHECK(it != live_.end(), "record_stream: the allocation does not belong to this allocator");
    if (stream != it->second.stream) it->second.uses.push_back(stream);
  }

  AllocatorStats stats() const override {
    std::lock_guard lock(mutex_);
    AllocatorStats out = stats_;
    uint64_t reserved = 0, high = 0;
    cuda_check(api_.pool_usage(pool_, &reserved, &high));
    for (Stat& stat : out.reserved_bytes) {
      stat.current = static_cast<int64_t>(reserved);
      stat.peak = static_cast<int64_t>(high);
    }
    out.reserved_bytes[small_pool] = Stat{};
    return out;
  }

  void reset_peak() override {
    std::lock_guard lock(mutex_);
    for (StatArray* array : {&stats_.allocated_bytes, &stats_.requested_bytes, &stats_.allocation,
                             &stats_.active, &stats_.active_bytes})
      for (Stat& stat : *array) stat.peak = stat.current;
    cuda_check(api_.pool_reset_peak(pool_));
  }

  void reset_accumulated() override {
    std::lock_guard lock(mutex_);
    for (StatArray* array : {&stats_.allocated_bytes, &stats_.requested_bytes, &stats_.allocation,
                             &stats_.active, &stats_.active_bytes})
      for (Stat& stat : *array) stat.allocated = stat.freed = 0;
    stats_.num_alloc_retries = stats_.num_ooms = stats_.num_device_alloc = stats_.num_device_free = stats_.alloc_ns =
        stats_.free_ns = 0;
  }

  void empty_cache() override {
    std::lock_guard lock(mutex_);
    cuda_check(api_.pool_trim(device_.index, pool_));
    trace_.record(TraceAction::empty_cache, 0, nullptr, 0, 0, current_label());
  }

  Snapshot snapshot() const override {
    // The pool's layout is the driver's own; each live allocation is shown as its own segment.
    std::lock_guard lock(mutex_);
    Snapshot snapshot;
    for (const auto& [ptr, block] : live_) {
      auto address = reinterpret_cast<uint64_t>(ptr);
      snapshot.segments.push_back(
          {address, block.size, block.stream, false,
           {{address, block.size, block.size, BlockState::allocated, label_text(block.label)}}});
    }
    std::sort(snapshot.segments.begin(), snapshot.segments.end(),
              [](const SegmentInfo& a, const SegmentInfo& b) { return a.address < b.address; });
    return snapshot;
  }

  std::vector<TraceEvent> trace_events(uint64_t* dropped) const override {
    std::lock_guard lock(mutex_);
    if (dropped) *dropped = trace_.dropped();
    return trace_.ordered();
  }

  std::size_t device_capacity() const override { return capacity_; }
  std::size_t device_free() const override {
    std::size_t free = 0, total = 0;
    cuda_check(api_.memory_info(device_.index, &free, &total));
    return free;
  }

 private:
  struct Block {
    void* ptr;
    std::size_t size;
    StreamId stream;
    uint32_t label;
    std::vector<StreamId> uses;
  };

  void release(void* handle) noexcept override {
    const auto start = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    auto it = live_.find(handle);
    if (it == live_.end()) return;
    Block& block = it->second;
    const auto native = reinterpret_cast<void*>(block.stream);
    // The free is ordered after the other streams' work through events, as record_stream asks.
    for (StreamId use : block.uses) {
      void* event = nullptr;
      if (!cuda_warn(api_.event_create(device_.index, 0, &event))) continue;
      if (cuda_warn(api_.event_record(event, reinterpret_cast<void*>(use)))) cuda_warn(api_.stream_wait_event(native, event));
      cuda_warn(api_.event_destroy(event));
    }
    cuda_warn(api_.pool_free(block.ptr, native));
    ++stats_.num_device_free;
    bump(stats_.allocation, -1);
    bump(stats_.allocated_bytes, -static_cast<int64_t>(block.size));
    bump(stats_.requested_bytes, -static_cast<int64_t>(block.size));
    bump(stats_.active, -1);
    bump(stats_.active_bytes, -static_cast<int64_t>(block.size));
    trace_.record(TraceAction::free, block.stream, block.ptr, block.size, block.size, block.label);
    live_.erase(it);
    if (config_.timing) stats_.free_ns += elapsed_ns(start);
  }

  static int64_t elapsed_ns(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
  }

  // Everything CUDA's pool serves counts as the large pool.
  static void bump(StatArray& stat, int64_t delta) {
    for (int pool : {all_pools, large_pool}) {
      if (delta >= 0) stat[pool].increase(delta);
      else stat[pool].decrease(-delta);
    }
  }


  Device device_;
  const PthrunCudaPluginV1& api_;
  AllocatorConfig config_;
  mutable std::mutex mutex_;
  void* pool_ = nullptr;  // the device's default cudaMemPool_t
  std::size_t capacity_ = 0;
  std::unordered_map<void*, Block> live_;
  AllocatorStats stats_;
  TraceRing trace_;
};

}  // namespace

std::unique_ptr<Allocator> make_cuda_async_allocator(Device device, const AllocatorConfig& config) {
  return std::make_unique<CudaAsyncAllocator>(device, config);
}

}  // namespace pthrun
