// Device memory under the caching allocator: cudaMalloc/cudaFree through the CUDA backend.
//
// The allocator frees from noexcept code (Allocation's destructor, its own destructor), so the
// calls it makes while freeing (deallocate and the event calls) never throw: after a sticky
// CUDA error they warn and carry on, treating the memory as gone and every event as done,
// rather than ending the process through std::terminate. Allocation and capacity queries, made
// from allocate(), throw as usual.
#include <vector>

#include "runtime/cuda_plugin.h"
#include "runtime/memory_backend.h"

namespace pthrun {

namespace {

class CudaBackend final : public MemoryBackend {
 public:
  explicit CudaBackend(Device device) : device_(device), api_((check_device(device), cuda_plugin())) {
    std::size_t free = 0;
    cuda_check(api_.memory_info(device_.index, &free, &capacity_));
  }

  ~CudaBackend() override {
    for (void* event : spare_events_) cuda_warn(api_.event_destroy(event));
  }

  Device device() const override { return device_; }
  std::string name() const override { return "cuda"; }

  void* allocate(std::size_t bytes) override {
    void* ptr = nullptr;
    cuda_check(api_.device_malloc(device_.index, bytes, &ptr));
    return ptr;  // null when out of memory: the allocator releases its cache and retries
  }

  void deallocate(void* ptr, std::size_t) override { cuda_warn(api_.device_free(device_.index, ptr)); }

  std::size_t capacity() const override { return capacity_; }

  std::size_t free_memory() const override {
    std::size_t free = 0, total = 0;
    cuda_check(api_.memory_info(device_.index, &free, &total));
    return free;
  }

  EventId record_event(StreamId stream) override {
    void* event = nullptr;
    if (!spare_events_.empty()) {
      event = spare_events_.back();
      spare_events_.pop_back();
    } else if (!cuda_warn(api_.event_create(device_.index, 0, &event))) {
      return kDone;
    }
    if (!cuda_warn(api_.event_record(event, reinterpret_cast<void*>(stream)))) {
      spare_events_.push_back(event);
      return kDone;
    }
    return reinterpret_cast<EventId>(event);
  }

  bool event_done(EventId id) override {
    if (id == kDone) return true;
    int done = 1;
    return !cuda_warn(api_.event_query(reinterpret_cast<void*>(id), &done)) || done != 0;
  }

  void wait_event(EventId id) override {
    if (id != kDone) cuda_warn(api_.event_synchronize(reinterpret_cast<void*>(id)));
  }

  void release_event(EventId id) override {
    if (id != kDone) spare_events_.push_back(reinterpret_cast<void*>(id));
  }

 private:
  // What a failed record_event returns: an event that is already done.
  static constexpr EventId kDone = 0;

  Device device_;
  const PthrunCudaPluginV1& api_;
  std::size_t capacity_ = 0;
  std::vector<void*> spare_events_;  // guarded by the allocator's lock
};

}  // namespace

std::unique_ptr<MemoryBackend> make_cuda_backend(Device device) { return std::make_unique<CudaBackend>(device); }

}  // namespace pthrun
