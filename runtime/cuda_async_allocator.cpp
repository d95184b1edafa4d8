// An Allocator over CUDA's stream-ordered pool (cudaMallocAsync), so that `pthrun
// alloc-compare` can set pthrun's caching allocator against the driver's own (CUDA builds
// only). The pool keeps freed memory (release threshold: unlimited), as PyTorch configures it.
#include <algorithm>
#include <chrono>
#include <memory>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "runtime/alloc_config.h"
#include "runtime/alloc_trace.h"
#include "runtime/allocator.h"
#include "runtime/cuda_check.h"

namespace pthrun {

namespace {

class CudaAsyncAllocator final : public Allocator {
 public:
  CudaAsyncAllocator(Device device, const AllocatorConfig& config)
      : device_(device), config_(config), trace_(config.trace ? config.trace_entries : 0) {
    set_current_device(device_);
    PTHRUN_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool_, device_.index));
    uint64_t threshold = UINT64_MAX;
    PTHRUN_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &threshold));
    std::size_t free = 0;
    PTHRUN_CUDA_CHECK(cudaMemGetInfo(&free, &capacity_));
    PTHRUN_CHECK(config.cap_bytes == 0 && config.cap_fraction == 0,
                 "PTHRUN_ALLOC_CONF: cap and cap_fraction apply to modes caching and nocache, not async");
  }

  Device device() const override { return device_; }
  std::string mode() const override { return "cuda-async"; }

  Allocation allocate(std::size_t bytes, StreamId stream) override {
    const auto start = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    set_current_device(device_);
    void* ptr = nullptr;
    auto native = reinterpret_cast<cudaStream_t>(stream);
    cudaError_t status = cudaMallocAsync(&ptr, std::max<std::size_t>(bytes, 1), native);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      ++stats_.num_alloc_retries;
      PTHRUN_CUDA_CHECK(cudaDeviceSynchronize());
      PTHRUN_CUDA_CHECK(cudaMemPoolTrimTo(pool_, 0));
      status = cudaMallocAsync(&ptr, std::max<std::size_t>(bytes, 1), native);
    }
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      ++stats_.num_ooms;
      trace_.record(TraceAction::oom, stream, nullptr, bytes, bytes, current_label(), device_free());
      throw OutOfMemory(bytes, str("out of memory on ", device_.to_string(), ": tried to allocate ",
                                   format_bytes(static_cast<double>(bytes)), " (", bytes,
                                   " bytes) from CUDA's stream-ordered pool; device capacity ",
                                   format_bytes(static_cast<double>(capacity_)), ", ",
                                   format_bytes(static_cast<double>(device_free())), " free"));
    }
    PTHRUN_CUDA_CHECK(status);
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
    PTHRUN_CUDA_CHECK(cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &reserved));
    PTHRUN_CUDA_CHECK(cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemHigh, &high));
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
    uint64_t zero = 0;
    PTHRUN_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReservedMemHigh, &zero));
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
    set_current_device(device_);
    PTHRUN_CUDA_CHECK(cudaDeviceSynchronize());
    PTHRUN_CUDA_CHECK(cudaMemPoolTrimTo(pool_, 0));
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
    PTHRUN_CUDA_CHECK(cudaMemGetInfo(&free, &total));
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
    auto native = reinterpret_cast<cudaStream_t>(block.stream);
    // The free is ordered after the other streams' work through events, as record_stream asks.
    for (StreamId use : block.uses) {
      cudaEvent_t event = nullptr;
      PTHRUN_CUDA_WARN(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
      PTHRUN_CUDA_WARN(cudaEventRecord(event, reinterpret_cast<cudaStream_t>(use)));
      PTHRUN_CUDA_WARN(cudaStreamWaitEvent(native, event, 0));
      PTHRUN_CUDA_WARN(cudaEventDestroy(event));
    }
    PTHRUN_CUDA_WARN(cudaFreeAsync(block.ptr, native));
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
  AllocatorConfig config_;
  mutable std::mutex mutex_;
  cudaMemPool_t pool_ = nullptr;
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
