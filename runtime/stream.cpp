#include "runtime/stream.h"

#include <cstring>
#include <utility>

#include "runtime/alloc_trace.h"
#include "runtime/allocator.h"
#include "runtime/cuda_plugin.h"
#include "runtime/error.h"

namespace pthrun {

Stream::Stream(Device device) : device_(device) {}

Stream Stream::create(Device device, int priority) {
  Stream stream(device);
  if (device.is_cpu()) return stream;
  check_device(device);
  cuda_check(cuda_plugin().stream_create(device.index, priority, &stream.handle_));
  stream.owned_ = true;
  return stream;
}

Stream::Stream(Stream&& other) noexcept
    : device_(other.device_), handle_(std::exchange(other.handle_, nullptr)),
      owned_(std::exchange(other.owned_, false)), workspace_(std::move(other.workspace_)) {}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    reset();
    device_ = other.device_;
    handle_ = std::exchange(other.handle_, nullptr);
    owned_ = std::exchange(other.owned_, false);
    workspace_ = std::move(other.workspace_);
  }
  return *this;
}

Stream::~Stream() { reset(); }

void Stream::reset() noexcept {
  // (cuda_plugin() cannot throw here: a stream with a handle or a workspace implies it is open.)
  if (workspace_) {
    // The caching allocator hands a freed block out again at once: the stream's work must no
    // longer be using it.
    if (device_.is_cuda()) cuda_warn(cuda_plugin().stream_synchronize(handle_));
    workspace_.reset();
  }
  if (owned_ && handle_) cuda_warn(cuda_plugin().stream_destroy(handle_));
  handle_ = nullptr;
  owned_ = false;
}

void Stream::synchronize() const {
  if (device_.is_cpu()) return;
  cuda_check(cuda_plugin().stream_synchronize(handle_));
}

void Stream::wait(const Event& event) const {
  if (device_.is_cpu() || !event.native()) return;
  cuda_check(cuda_plugin().stream_wait_event(handle_, event.native()));
}

void* Stream::workspace(std::size_t bytes) const {
  if (workspace_ && workspace_->size() >= bytes) return workspace_->get();
  if (workspace_) {
    synchronize();
    workspace_.reset();
  }
  AllocScope scope("workspace");
  workspace_ = std::make_unique<Allocation>(device_allocator(device_).allocate(bytes, id()));
  return workspace_->get();
}

Event Event::create(Device device, bool timing) {
  Event event;
  event.device_ = device;
  if (device.is_cpu()) return event;
  check_device(device);
  cuda_check(cuda_plugin().event_create(device.index, timing ? 1 : 0, &event.handle_));
  return event;
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

void Event::reset() noexcept {
  if (handle_) cuda_warn(cuda_plugin().event_destroy(handle_));
  handle_ = nullptr;
}

void Event::record(const Stream& stream) {
  if (!handle_) return;
  cuda_check(cuda_plugin().event_record(handle_, stream.native()));
}

void Event::synchronize() const {
  if (!handle_) return;
  cuda_check(cuda_plugin().event_synchronize(handle_));
}

bool Event::done() const {
  if (!handle_) return true;
  int done = 0;
  cuda_check(cuda_plugin().event_query(handle_, &done));
  return done != 0;
}

float Event::elapsed_ms_since(const Event& start) const {
  PTHRUN_CHECK(handle_ && start.handle_, "elapsed time needs two recorded CUDA events");
  float ms = 0;
  cuda_check(cuda_plugin().event_elapsed_ms(start.handle_, handle_, &ms));
  return ms;
}

void memcpy_async(void* dst, const void* src, std::size_t bytes, const Stream& stream) {
  if (bytes == 0) return;
  if (stream.device().is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
  cuda_check(cuda_plugin().memcpy_async(dst, src, bytes, stream.native()));
}

}  // namespace pthrun
