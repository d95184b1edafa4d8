// Raw memory under a caching allocator: cudaMalloc/cudaFree on a GPU, aligned host memory on
// the CPU (tests add one with a fake address space: tests/test_backend.h).
//
// Besides memory, a backend gives the allocator stream ordering: an event recorded on a stream
// is done once the work submitted to that stream before it has finished.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/device.h"
#include "runtime/stream.h"

namespace pthrun {

class MemoryBackend {
 public:
  using EventId = std::uintptr_t;

  virtual ~MemoryBackend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;
  // nullptr when the memory is not there: the allocator then releases its cache and retries.
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void deallocate(void* ptr, std::size_t bytes) = 0;
  virtual std::size_t capacity() const = 0;
  virtual std::size_t free_memory() const = 0;

  virtual EventId record_event(StreamId stream) = 0;
  virtual bool event_done(EventId event) = 0;
  virtual void wait_event(EventId event) = 0;
  virtual void release_event(EventId event) = 0;
};

// Host memory, 256-byte aligned like cudaMalloc's. Work on the CPU is synchronous, so every
// event is done as soon as it is recorded.
class HostBackend final : public MemoryBackend {
 public:
  Device device() const override { return cpu_device; }
  std::string name() const override { return "host"; }
  void* allocate(std::size_t bytes) override;
  void deallocate(void* ptr, std::size_t bytes) override;
  std::size_t capacity() const override;
  std::size_t free_memory() const override;
  EventId record_event(StreamId) override { return 0; }
  bool event_done(EventId) override { return true; }
  void wait_event(EventId) override {}
  void release_event(EventId) override {}
};

// cudaMalloc/cudaFree on one GPU; events come from a reused pool of cudaEvent_t.
std::unique_ptr<MemoryBackend> make_cuda_backend(Device device);

}  // namespace pthrun
