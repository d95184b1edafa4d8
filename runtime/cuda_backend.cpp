// cudaMalloc/cudaFree under the caching allocator (CUDA builds only).
#include <vector>

#include "runtime/cuda_check.h"
#include "runtime/memory_backend.h"

namespace pthrun {

namespace {

class CudaBackend final : public MemoryBackend {
 public:
  explicit CudaBackend(Device device) : device_(device) {
    set_current_device(device_);
    std::size_t free = 0;
    PTHRUN_CUDA_CHECK(cudaMemGetInfo(&free, &capacity_));
  }

  ~CudaBackend() override {
    for (cudaEvent_t event : spare_events_) PTHRUN_CUDA_WARN(cudaEventDestroy(event));
  }

  Device device() const override { return device_; }
  std::string name() const override { return "cuda"; }

  void* allocate(std::size_t bytes) override {
    set_current_device(device_);
    void* ptr = nullptr;
    cudaError_t status = cudaMalloc(&ptr, bytes);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // not sticky: the allocator releases its cache and retries
      return nullptr;
    }
    PTHRUN_CUDA_CHECK(status);
    return ptr;
  }

  void deallocate(void* ptr, std::size_t) override {
    set_current_device(device_);
    PTHRUN_CUDA_CHECK(cudaFree(ptr));
  }

  std::size_t capacity() const override { return capacity_; }

  std::size_t free_memory() const override {
    std::size_t free = 0, total = 0;
    set_current_device(device_);
    PTHRUN_CUDA_CHECK(cudaMemGetInfo(&free, &total));
    return free;
  }

  EventId record_event(StreamId stream) override {
    cudaEvent_t event = nullptr;
    if (spare_events_.empty()) {
      set_current_device(device_);
      PTHRUN_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    } else {
      event = spare_events_.back();
      spare_events_.pop_back();
    }
    PTHRUN_CUDA_CHECK(cudaEventRecord(event, reinterpret_cast<cudaStream_t>(stream)));
    return reinterpret_cast<EventId>(event);
  }

  bool event_done(EventId id) override {
    cudaError_t status = cudaEventQuery(reinterpret_cast<cudaEvent_t>(id));
    if (status == cudaErrorNotReady) {
      cudaGetLastError();
      return false;
    }
    PTHRUN_CUDA_CHECK(status);
    return true;
  }

  void wait_event(EventId id) override {
    PTHRUN_CUDA_CHECK(cudaEventSynchronize(reinterpret_cast<cudaEvent_t>(id)));
  }

  void release_event(EventId id) override { spare_events_.push_back(reinterpret_cast<cudaEvent_t>(id)); }

 private:
  Device device_;
  std::size_t capacity_ = 0;
  std::vector<cudaEvent_t> spare_events_;  // guarded by the allocator's lock
};

}  // namespace

std::unique_ptr<MemoryBackend> make_cuda_backend(Device device) {
  return std::make_unique<CudaBackend>(device);
}

}  // namespace pthrun
