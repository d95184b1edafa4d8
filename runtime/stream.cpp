#include "runtime/stream.h"

#include <cstring>
#include <utility>

#include "runtime/error.h"

#if PTHRUN_WITH_CUDA
#include "runtime/cuda_check.h"
#endif

namespace pthrun {

namespace {

[[maybe_unused]] [[noreturn]] void no_cuda(Device device) {
  throw Error(str("device ", device.to_string(), " requested, but pthrun was built without CUDA"));
}

#if PTHRUN_WITH_CUDA
cudaStream_t as_stream(void* handle) { return static_cast<cudaStream_t>(handle); }
cudaEvent_t as_event(void* handle) { return static_cast<cudaEvent_t>(handle); }
#endif

}  // namespace

Stream Stream::create(Device device, int priority) {
  Stream stream(device);
  if (device.is_cpu()) return stream;
#if PTHRUN_WITH_CUDA
  set_current_device(device);
  cudaStream_t handle = nullptr;
  PTHRUN_CUDA_CHECK(cudaStreamCreateWithPriority(&handle, cudaStreamNonBlocking, priority));
  stream.handle_ = handle;
  stream.owned_ = true;
  return stream;
#else
  (void)priority;
  no_cuda(device);
#endif
}

Stream::Stream(Stream&& other) noexcept
    : device_(other.device_), handle_(std::exchange(other.handle_, nullptr)),
      owned_(std::exchange(other.owned_, false)) {}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    reset();
    device_ = other.device_;
    handle_ = std::exchange(other.handle_, nullptr);
    owned_ = std::exchange(other.owned_, false);
  }
  return *this;
}

Stream::~Stream() { reset(); }

void Stream::reset() {
#if PTHRUN_WITH_CUDA
  if (owned_ && handle_) PTHRUN_CUDA_WARN(cudaStreamDestroy(as_stream(handle_)));
#endif
  handle_ = nullptr;
  owned_ = false;
}

void Stream::synchronize() const {
  if (device_.is_cpu()) return;
#if PTHRUN_WITH_CUDA
  PTHRUN_CUDA_CHECK(cudaStreamSynchronize(as_stream(handle_)));
#else
  no_cuda(device_);
#endif
}

bool Stream::idle() const {
  if (device_.is_cpu()) return true;
#if PTHRUN_WITH_CUDA
  cudaError_t status = cudaStreamQuery(as_stream(handle_));
  if (status == cudaErrorNotReady) return false;
  PTHRUN_CUDA_CHECK(status);
  return true;
#else
  no_cuda(device_);
#endif
}

void Stream::wait(const Event& event) const {
  if (device_.is_cpu() || !event.native()) return;
#if PTHRUN_WITH_CUDA
  PTHRUN_CUDA_CHECK(cudaStreamWaitEvent(as_stream(handle_), as_event(event.native()), 0));
#else
  no_cuda(device_);
#endif
}

Event Event::create(Device device, bool timing) {
  Event event;
  event.device_ = device;
  if (device.is_cpu()) return event;
#if PTHRUN_WITH_CUDA
  set_current_device(device);
  cudaEvent_t handle = nullptr;
  PTHRUN_CUDA_CHECK(cudaEventCreateWithFlags(&handle, timing ? cudaEventDefault : cudaEventDisableTiming));
  event.handle_ = handle;
  return event;
#else
  (void)timing;
  no_cuda(device);
#endif
}

Event::Event(Event&& other) noexcept
    : device_(other.device_), handle_(std::exchange(other.handle_, nullptr)) {}

Event& Event::operator=(Event&& other) noexcept {
  if (this != &other) {
    reset();
    device_ = other.device_;
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

Event::~Event() { reset(); }

void Event::reset() {
#if PTHRUN_WITH_CUDA
  if (handle_) PTHRUN_CUDA_WARN(cudaEventDestroy(as_event(handle_)));
#endif
  handle_ = nullptr;
}

void Event::record(const Stream& stream) {
  if (!handle_) return;
#if PTHRUN_WITH_CUDA
  PTHRUN_CUDA_CHECK(cudaEventRecord(as_event(handle_), as_stream(stream.native())));
#else
  (void)stream;
#endif
}

void Event::synchronize() const {
  if (!handle_) return;
#if PTHRUN_WITH_CUDA
  PTHRUN_CUDA_CHECK(cudaEventSynchronize(as_event(handle_)));
#endif
}

bool Event::done() const {
  if (!handle_) return true;
#if PTHRUN_WITH_CUDA
  cudaError_t status = cudaEventQuery(as_event(handle_));
  if (status == cudaErrorNotReady) return false;
  PTHRUN_CUDA_CHECK(status);
#endif
  return true;
}

float Event::elapsed_ms_since(const Event& start) const {
  PTHRUN_CHECK(handle_ && start.handle_, "elapsed time needs two recorded CUDA events");
#if PTHRUN_WITH_CUDA
  float ms = 0;
  PTHRUN_CUDA_CHECK(cudaEventElapsedTime(&ms, as_event(start.handle_), as_event(handle_)));
  return ms;
#else
  return 0;
#endif
}

void memcpy_async(void* dst, const void* src, std::size_t bytes, const Stream& stream) {
  if (bytes == 0) return;
  if (stream.device().is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if PTHRUN_WITH_CUDA
  PTHRUN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, as_stream(stream.native())));
#else
  no_cuda(stream.device());
#endif
}

}  // namespace pthrun
