// Raw memory under a caching allocator: cudaMalloc/cudaFree on a GPU, aligned host memory on
// the CPU, and a test backend with a configurable capacity and hand-driven stream completion.
//
// Besides memory, a backend gives the allocator stream ordering: an event recorded on a stream
// is done once the work submitted to that stream before it has finished.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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

// Hands out addresses from a fake address space (nothing is mapped: never touch the memory)
// up to a capacity, and counts every call, so that tests can check exactly what the
// allocator asks of the device. Events complete only when a test says so.
class TestBackend final : public MemoryBackend {
 public:
  explicit TestBackend(std::size_t capacity) : capacity_(capacity) {}

  Device device() const override { return cuda_device(0); }
  std::string name() const override { return "test"; }
  void* allocate(std::size_t bytes) override;
  void deallocate(void* ptr, std::size_t bytes) override;
  std::size_t capacity() const override { return capacity_; }
  std::size_t free_memory() const override;
  EventId record_event(StreamId stream) override;
  bool event_done(EventId event) override;
  void wait_event(EventId event) override;
  void release_event(EventId event) override;

  // Marks the work submitted to `stream` so far as finished.
  void finish_stream(StreamId stream);
  std::size_t used() const;
  int64_t allocate_calls() const;
  int64_t deallocate_calls() const;
  int64_t event_calls() const;  // record, query, wait and release together

 private:
  struct PendingEvent {
    StreamId stream;
    bool done;
  };
  mutable std::mutex mutex_;
  std::size_t capacity_;
  std::size_t used_ = 0;
  uint64_t next_address_ = uint64_t(1) << 40;
  std::map<uint64_t, std::size_t> live_;
  std::map<EventId, PendingEvent> events_;
  EventId next_event_ = 1;
  int64_t allocate_calls_ = 0, deallocate_calls_ = 0, event_calls_ = 0;
};

}  // namespace pthrun
