// The allocator tests' memory backend (see tests/test_backend.h).
#include "runtime/checked_math.h"
#include "runtime/error.h"
#include "tests/test_backend.h"

namespace pthrun::test {

void* TestBackend::allocate(std::size_t bytes) {
  std::lock_guard lock(mutex_);
  ++allocate_calls_;
  if (bytes > capacity_ - used_) return nullptr;
  uint64_t address = next_address_;
  // Leave a gap between allocations so that no two segments are ever adjacent by accident.
  next_address_ += round_up(bytes, 1 << 21) + (1 << 21);
  used_ += bytes;
  live_.emplace(address, bytes);
  return reinterpret_cast<void*>(address);
}

void TestBackend::deallocate(void* ptr, std::size_t bytes) {
  std::lock_guard lock(mutex_);
  ++deallocate_calls_;
  auto it = live_.find(reinterpret_cast<uint64_t>(ptr));
  PTHRUN_ASSERT(it != live_.end() && it->second == bytes);
  used_ -= bytes;
  live_.erase(it);
}

std::size_t TestBackend::free_memory() const {
  std::lock_guard lock(mutex_);
  return capacity_ - used_;
}

MemoryBackend::EventId TestBackend::record_event(StreamId stream) {
  std::lock_guard lock(mutex_);
  ++event_calls_;
  EventId id = next_event_++;
  events_.emplace(id, PendingEvent{stream, false});
  return id;
}

bool TestBackend::event_done(EventId event) {
  std::lock_guard lock(mutex_);
  ++event_calls_;
  auto it = events_.find(event);
  PTHRUN_ASSERT(it != events_.end());
  return it->second.done;
}

void TestBackend::wait_event(EventId event) {
  // Waiting on the CPU for a GPU stream ends with the stream's work done.
  std::lock_guard lock(mutex_);
  ++event_calls_;
  auto it = events_.find(event);
  PTHRUN_ASSERT(it != events_.end());
  it->second.done = true;
}

void TestBackend::release_event(EventId event) {
  std::lock_guard lock(mutex_);
  ++event_calls_;
  PTHRUN_ASSERT(events_.erase(event) == 1);
}

void TestBackend::finish_stream(StreamId stream) {
  std::lock_guard lock(mutex_);
  for (auto& [id, event] : events_)
    if (event.stream == stream) event.done = true;
}

std::size_t TestBackend::used() const {
  std::lock_guard lock(mutex_);
  return used_;
}

int64_t TestBackend::allocate_calls() const {
  std::lock_guard lock(mutex_);
  return allocate_calls_;
}

int64_t TestBackend::deallocate_calls() const {
  std::lock_guard lock(mutex_);
  return deallocate_calls_;
}

int64_t TestBackend::event_calls() const {
  std::lock_guard lock(mutex_);
  return event_calls_;
}

}  // namespace pthrun::test
