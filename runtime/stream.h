// RAII CUDA streams and events; on the CPU both are trivial (work is synchronous there).
//
//   Stream copy = Stream::create(cuda_device(0));
//   Event done = Event::create(copy.device());
//   launch_something(..., copy.native());
//   done.record(copy);
//   compute.wait(done);
//
// A StreamId names a stream to the allocator: the cudaStream_t's value, 0 for the legacy
// default stream and for the CPU.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/device.h"

namespace pthrun {

using StreamId = std::uintptr_t;

class Event;

class Stream {
 public:
  // The device's legacy default stream; not owned.
  explicit Stream(Device device = cpu_device) : device_(device) {}
  // A new non-blocking stream that this object owns (on the CPU, the trivial stream).
  static Stream create(Device device, int priority = 0);

  Stream(Stream&& other) noexcept;
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();

  Device device() const { return device_; }
  StreamId id() const { return reinterpret_cast<StreamId>(handle_); }
  // The cudaStream_t, as void* so that this header needs no CUDA include.
  void* native() const { return handle_; }

  void synchronize() const;
  // True when all work submitted so far has finished.
  bool idle() const;
  // Later work on this stream waits until `event` has completed.
  void wait(const Event& event) const;

 private:
  void reset();

  Device device_;
  void* handle_ = nullptr;
  bool owned_ = false;
};

class Event {
 public:
  Event() = default;
  static Event create(Device device, bool timing = false);

  Event(Event&& other) noexcept;
  Event& operator=(Event&& other) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event();

  void record(const Stream& stream);
  void synchronize() const;
  bool done() const;
  // Milliseconds from `start` to this event; both created with timing = true and recorded.
  float elapsed_ms_since(const Event& start) const;
  void* native() const { return handle_; }
  Device device() const { return device_; }

 private:
  void reset();

  Device device_;
  void* handle_ = nullptr;
};

// Copies `bytes` between any host and device pointers in `stream`'s order (cudaMemcpyAsync
// with unified addressing); on the CPU stream, at once. Host memory should be pinned
// (PinnedBuffer) for the copy to be asynchronous and capturable in a CUDA graph.
void memcpy_async(void* dst, const void* src, std::size_t bytes, const Stream& stream);

}  // namespace pthrun
