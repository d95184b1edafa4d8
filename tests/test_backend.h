// A memory backend for the allocator's tests: it hands out addresses from a fake address space
// up to a capacity and counts every call, so that a test can check exactly what the allocator
// asks of the device; streams finish only when the test says so.
//
//   TestBackend* backend = new TestBackend(1 << 30);
//   CachingAllocator alloc{std::unique_ptr<MemoryBackend>(backend), {}};
//   backend->finish_stream(s);   // the work submitted to s so far is done
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "runtime/memory_backend.h"

namespace pthrun::test {

// Nothing is mapped at the addresses it gives: never touch the memory.
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

}  // namespace pthrun::test
