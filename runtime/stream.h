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
//
// A Stream object also owns the scratch memory that matrix products on it need (cuBLASLt's
// workspace, see workspace()): it lives exactly as long as the object, so two streams never
// share one, and a stream handle that CUDA reuses after a destroy starts with none.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "runtime/device.h"

namespace pthrun {

using StreamId = std::uintptr_t;

class Allocation;
class Event;

class Stream {
 public:
  // The device's legacy default stream; not owned.
  explicit Stream(Device device = cpu_device);
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
  // Later work on this stream waits until `event` has completed.
  void wait(const Event& event) const;

  // At least `bytes` of device memory for work on this stream, allocated on first use from the
  // device's allocator (labelled "workspace" in its statistics and trace) and kept until the
  // object goes, which first waits for the stream's work. Grows (reallocates) when a larger
  // size is asked for. Ask before capturing the stream into a CUDA graph: capture cannot
  // allocate. Like the stream itself, for one thread at a time.
  void* workspace(std::size_t bytes) const;

 private:
  void reset() noexcept;

  Device device_;
  void* handle_ = nullptr;
  bool owned_ = false;
  mutable std::unique_ptr<Allocation> workspace_;
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
  void reset() noexcept;

  Device device_;
  void* handle_ = nullptr;
};

// Copies `bytes` between any host and device pointers in `stream`'s order (cudaMemcpyAsync
// with unified addressing); on the CPU stream, at once. Host memory should be pinned
// (PinnedBuffer) for the copy to be asynchronous and capturable in a CUDA graph.
void memcpy_async(void* dst, const void* src, std::size_t bytes, const Stream& stream);

}  // namespace pthrun
