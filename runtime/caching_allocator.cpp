#include "runtime/caching_allocator.h"

#include <algorithm>
#include <new>
#include <utility>
#include <cstdio>
#include <tuple>

#include "runtime/checked_math.h"
#include "runtime/error.h"

namespace pthrun {

struct CachingAllocator::Block {
  char* ptr;
  std::size_t size;
  StreamId stream;
  bool small;
  bool allocated = false;
  std::size_t requested = 0;
  uint32_t label = 0;
  int pending_events = 0;         // events still to complete before the block is free
  Block* prev = nullptr;          // neighbours inside the segment, by address
  Block* next = nullptr;
  std::vector<StreamId> stream_uses;  // other streams recorded with record_stream()

  Block(char* p, std::size_t s, StreamId st, bool sm) : ptr(p), size(s), stream(st), small(sm) {}
  bool is_split() const { return prev != nullptr || next != nullptr; }
  // Free blocks, and only those, sit in their pool's set.
  bool is_free() const { return !allocated && pending_events == 0; }
};

CachingAllocator::NodePool::~NodePool() {
  while (free_) ::operator delete(std::exchange(free_, free_->next));
}

void* CachingAllocator::NodePool::do_allocate(std::size_t bytes, std::size_t alignment) {
  // std::set asks for one node size only; anything else would be a bug worth hearing about.
  PTHRUN_ASSERT(alignment <= alignof(std::max_align_t) && bytes >= sizeof(FreeNode) &&
                (node_bytes_ == 0 || node_bytes_ == bytes));
  node_bytes_ = bytes;
  if (!free_) return ::operator new(bytes);
  return std::exchange(free_, free_->next);
}

void CachingAllocator::NodePool::do_deallocate(void* p, std::size_t, std::size_t) {
  free_ = new (p) FreeNode{free_};
}

CachingAllocator::Block* CachingAllocator::make_block(char* ptr, std::size_t size, StreamId stream, bool small) {
  if (spare_blocks_.empty()) return new Block(ptr, size, stream, small);
  Block* block = spare_blocks_.back();
  spare_blocks_.pop_back();
  *block = Block(ptr, size, stream, small);
  return block;
}

void CachingAllocator::recycle(Block* block) {
  // Splits and merges churn Block records on every small-pool hit; reusing them keeps the
  // heap allocator off that path.
  block->stream_uses.clear();
  spare_blocks_.push_back(block);
}

bool CachingAllocator::BlockOrder::operator()(const Block* a, const Block* b) const {
  return std::tie(a->stream, a->size, a->ptr) < std::tie(b->stream, b->size, b->ptr);
}

CachingAllocator::CachingAllocator(std::unique_ptr<MemoryBackend> backend, AllocatorConfig config)
    : backend_(std::move(backend)),
      config_(config),
      trace_(config.trace ? config.trace_entries : 0) {
  PTHRUN_CHECK(config_.mode != AllocatorMode::async,
               "the caching allocator cannot run in mode async (that is CUDA's own pool)");
}

CachingAllocator::~CachingAllocator() {
  std::lock_guard lock(mutex_);
  wait_all_events();
  release_cached_segments();
  if (!segments_.empty())
    std::fprintf(stderr, "warning: %s allocator destroyed with %zu segment(s) still in use\n",
                 device().to_string().c_str(), segments_.size());
  for (Block* block : spare_blocks_) delete block;
}

std::string CachingAllocator::mode() const {
  return config_.mode == AllocatorMode::caching ? "caching" : "no-caching";
}

void CachingAllocator::update(StatArray& stat, bool small, int64_t delta) {
  Stat& pool_stat = stat[small ? small_pool : large_pool];
  if (delta >= 0) {
    stat[all_pools].increase(delta);
    pool_stat.increase(delta);
  } else {
    stat[all_pools].decrease(-delta);
    pool_stat.decrease(-delta);
  }
}


std::size_t CachingAllocator::limit_locked() const {
  std::size_t limit = SIZE_MAX;
  if (config_.cap_bytes) limit = config_.cap_bytes;
  if (config_.cap_fraction > 0)
    limit = std::min(limit, static_cast<std::size_t>(config_.cap_fraction *
                                                     static_cast<double>(backend_->capacity())));
  return limit;
}

std::size_t CachingAllocator::memory_limit() const {
  std::lock_guard lock(mutex_);
  return std::min(limit_locked(), backend_->capacity());
}

void CachingAllocator::set_cap(std::size_t bytes) {
  std::lock_guard lock(mutex_);
  config_.cap_bytes = bytes;
}

Allocation CachingAllocator::allocate(std::size_t bytes, StreamId stream) {
  const std::size_t size = round_up(std::max<std::size_t>(bytes, 1), kRound);
  PTHRUN_CHECK(size >= bytes, "allocation of ", bytes, " bytes is too large");
  const bool caching = config_.mode == AllocatorMode::caching;
  const bool small = size <= kSmallRequest;
  std::lock_guard lock(mutex_);
  if (!pending_.empty()) process_events();

  Block* block = caching ? find_free_block(size, stream, small) : nullptr;
  if (block) {
    ++stats_.num_cache_hits;
    // Keep the remainder as a free block of its own.
    if (block->size - size >= kRound && block->size < config_.max_split_size) {
      auto* rest = make_block(block->ptr + size, block->size - size, stream, small);
      rest->prev = block;
      rest->next = block->next;
      if (rest->next) rest->next->prev = rest;
      block->next = rest;
      block->size = size;
      pool(small).insert(rest);
      update(stats_.inactive_split_bytes, small, static_cast<int64_t>(rest->size));
      update(stats_.inactive_split, small, 1);
    }
  } else {
    std::size_t segment = !caching ? size : small ? kSmallSegment : round_up(size, kLargeRound);
    block = new_segment_or_throw(segment, bytes, stream, small);
    // A fresh segment larger than the request: keep the rest free for later requests.
    if (caching && segment > size && segment < config_.max_split_size) {
      auto* rest = make_block(block->ptr + size, segment - size, stream, small);
      rest->prev = block;
      block->next = rest;
      block->size = size;
      pool(small).insert(rest);
      update(stats_.inactive_split_bytes, small, static_cast<int64_t>(rest->size));
      update(stats_.inactive_split, small, 1);
    }
  }

  block->allocated = true;
  block->requested = bytes;
  block->label = current_label();
  update(stats_.allocation, small, 1);
  update(stats_.allocated_bytes, small, static_cast<int64_t>(block->size));
  update(stats_.active, small, 1);
  update(stats_.active_bytes, small, static_cast<int64_t>(block->size));
  update(stats_.requested_bytes, small, static_cast<int64_t>(bytes));
  trace_.record(TraceAction::alloc, stream, block->ptr, block->size, bytes, block->label);
  return make_allocation(block->ptr, bytes, block);
}

CachingAllocator::Block* CachingAllocator::find_free_block(std::size_t size, StreamId stream,
                                                           bool small) {
  BlockSet& free = pool(small);
  Block key(nullptr, size, stream, small);  // a search key only
  auto it = free.lower_bound(&key);
  if (it == free.end() || (*it)->stream != stream) return nullptr;
  Block* block = *it;
  const std::size_t oversize = config_.max_split_size;
  // An ordinary request never takes an oversize block; an oversize request takes one only if
  // little of it would be wasted (oversize blocks are never split).
  if (size < oversize && block->size >= oversize) return nullptr;
  if (size >= oversize && block->size - size >= kOversizeWaste) return nullptr;
  free.erase(it);
  if (block->is_split()) {
    update(stats_.inactive_split_bytes, small, -static_cast<int64_t>(block->size));
    update(stats_.inactive_split, small, -1);
  }
  return block;
}

CachingAllocator::Block* CachingAllocator::new_segment(std::size_t size, StreamId stream, bool small) {
  const std::size_t reserved = static_cast<std::size_t>(stats_.reserved_bytes[all_pools].current);
  if (reserved + size > limit_locked()) return nullptr;
  void* ptr = backend_->allocate(size);
  if (!ptr) return nullptr;
  ++stats_.num_device_alloc;
  auto* block = make_block(static_cast<char*>(ptr), size, stream, small);
  segments_.emplace(reinterpret_cast<uintptr_t>(ptr), Segment{block, size});
  update(stats_.reserved_bytes, small, static_cast<int64_t>(size));
  update(stats_.segment, small, 1);
  trace_.record(TraceAction::segment_alloc, stream, ptr, size, 0, current_label());
  return block;
}

CachingAllocator::Block* CachingAllocator::new_segment_or_throw(std::size_t size,
                                                                std::size_t requested,
                                                                StreamId stream, bool small) {
  Block* block = new_segment(size, stream, small);
  if (!block) {
    // The device or the cap refused: give the cache back and try once more.
    ++stats_.num_alloc_retries;
    wait_all_events();
    release_cached_segments();
    block = new_segment(size, stream, small);
  }
  if (!block) throw_oom(requested, size);
  return block;
}

void CachingAllocator::throw_oom(std::size_t requested, std::size_t segment_size) {
  ++stats_.num_ooms;
  trace_.record(TraceAction::oom, 0, nullptr, segment_size, requested, current_label());
  const int64_t allocated = stats_.allocated_bytes[all_pools].current;
  const int64_t reserved = stats_.reserved_bytes[all_pools].current;
  std::string cap;
  const std::size_t limit = limit_locked();
  if (limit != SIZE_MAX) cap = str("; cap ", format_bytes(static_cast<double>(limit)));
  throw OutOfMemory(
      requested,
      str("out of memory on ", device().to_string(), ": tried to allocate ",
          format_bytes(static_cast<double>(requested)), " (", requested, " bytes); device capacity ",
          format_bytes(static_cast<double>(backend_->capacity())), ", ",
          format_bytes(static_cast<double>(backend_->free_memory())), " free; pthrun has ",
          format_bytes(static_cast<double>(allocated)), " allocated, ",
          format_bytes(static_cast<double>(reserved)), " reserved (",
          format_bytes(static_cast<double>(reserved - allocated)), " reserved but unallocated)", cap));
}

void CachingAllocator::release(void* handle) noexcept {
  auto* block = static_cast<Block*>(handle);
  std::lock_guard lock(mutex_);
  const bool small = block->small;
  block->allocated = false;
  update(stats_.allocation, small, -1);
  update(stats_.allocated_bytes, small, -static_cast<int64_t>(block->size));
  update(stats_.requested_bytes, small, -static_cast<int64_t>(block->requested));

  if (block->stream_uses.empty()) {
    trace_.record(TraceAction::free, block->stream, block->ptr, block->size, block->requested, block->label);
    free_block(block);
    return;
  }
  trace_.record(TraceAction::free_pending, block->stream, block->ptr, block->size, block->requested,
        block->label);
  for (StreamId use : block->stream_uses) {
    pending_.push_back({backend_->record_event(use), block});
    ++block->pending_events;
  }
  block->stream_uses.clear();
  if (config_.mode == AllocatorMode::nocache) wait_all_events();  // memory goes back at once
}

void CachingAllocator::free_block(Block* block) {
  const bool small = block->small;
  update(stats_.active, small, -1);
  update(stats_.active_bytes, small, -static_cast<int64_t>(block->size));
  block->requested = 0;
  block->label = 0;
  if (config_.mode == AllocatorMode::nocache) {
    release_segment(block);
    return;
  }
  BlockSet& free = pool(small);
  if (Block* prev = block->prev; prev && prev->is_free()) {
    free.erase(prev);
    update(stats_.inactive_split_bytes, small, -static_cast<int64_t>(prev->size));
    update(stats_.inactive_split, small, -1);
    prev->size += block->size;
    prev->next = block->next;
    if (prev->next) prev->next->prev = prev;
    recycle(block);
    block = prev;
  }
  if (Block* next = block->next; next && next->is_free()) {
    free.erase(next);
    update(stats_.inactive_split_bytes, small, -static_cast<int64_t>(next->size));
    update(stats_.inactive_split, small, -1);
    block->size += next->size;
    block->next = next->next;
    if (block->next) block->next->prev = block;
    recycle(next);
  }
  if (block->is_split()) {
    update(stats_.inactive_split_bytes, small, static_cast<int64_t>(block->size));
    update(stats_.inactive_split, small, 1);
  }
  free.insert(block);
}

void CachingAllocator::release_segment(Block* head) {
  auto it = segments_.find(reinterpret_cast<uintptr_t>(head->ptr));
  PTHRUN_ASSERT(it != segments_.end() && it->second.head == head && !head->next);
  const std::size_t size = it->second.size;
  segments_.erase(it);
  backend_->deallocate(head->ptr, size);
  ++stats_.num_device_free;
  update(stats_.reserved_bytes, head->small, -static_cast<int64_t>(size));
  update(stats_.segment, head->small, -1);
  trace_.record(TraceAction::segment_free, head->stream, head->ptr, size, 0, current_label());
  recycle(head);
}

void CachingAllocator::release_cached_segments() {
  for (auto it = segments_.begin(); it != segments_.end();) {
    Block* head = (it++)->second.head;
    if (head->next || !head->is_free()) continue;  // split or in use
    pool(head->small).erase(head);
    release_segment(head);
  }
}

void CachingAllocator::process_events() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (!backend_->event_done(it->event)) {
      ++it;
      continue;
    }
    backend_->release_event(it->event);
    Block* block = it->block;
    it = pending_.erase(it);
    if (--block->pending_events == 0) {
      trace_.record(TraceAction::free_complete, block->stream, block->ptr, block->size, 0, block->label);
      free_block(block);
    }
  }
}

void CachingAllocator::wait_all_events() {
  while (!pending_.empty()) {
    PendingEvent pending = pending_.front();
    pending_.pop_front();
    backend_->wait_event(pending.event);
    backend_->release_event(pending.event);
    if (--pending.block->pending_events == 0) {
      Block* block = pending.block;
      trace_.record(TraceAction::free_complete, block->stream, block->ptr, block->size, 0, block->label);
      free_block(block);
    }
  }
}

void CachingAllocator::record_stream(const Allocation& allocation, StreamId stream) {
  auto* block = static_cast<Block*>(block_of(allocation));
  PTHRUN_CHECK(block && allocation.allocator() == this,
               "record_stream: the allocation does not belong to this allocator");
  std::lock_guard lock(mutex_);
  if (stream == block->stream) return;
  if (std::find(block->stream_uses.begin(), block->stream_uses.end(), stream) ==
      block->stream_uses.end())
    block->stream_uses.push_back(stream);
}

void CachingAllocator::reserve(std::size_t bytes, StreamId stream) {
  if (bytes == 0 || config_.mode != AllocatorMode::caching) return;
  std::lock_guard lock(mutex_);
  Block* block = new_segment_or_throw(round_up(bytes, kLargeRound), bytes, stream, false);
  large_free_.insert(block);
}

void CachingAllocator::empty_cache() {
  std::lock_guard lock(mutex_);
  wait_all_events();
  release_cached_segments();
  trace_.record(TraceAction::empty_cache, 0, nullptr, 0, 0, current_label());
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard lock(mutex_);
  for (StatArray* array : {&stats_.allocated_bytes, &stats_.reserved_bytes, &stats_.active_bytes,
                           &stats_.inactive_split_bytes, &stats_.requested_bytes, &stats_.allocation,
                           &stats_.segment, &stats_.active, &stats_.inactive_split})
    for (Stat& stat : *array) stat.peak = stat.current;
}

void CachingAllocator::reset_accumulated() {
  std::lock_guard lock(mutex_);
  for (StatArray* array : {&stats_.allocated_bytes, &stats_.reserved_bytes, &stats_.active_bytes,
                           &stats_.inactive_split_bytes, &stats_.requested_bytes, &stats_.allocation,
                           &stats_.segment, &stats_.active, &stats_.inactive_split})
    for (Stat& stat : *array) stat.allocated = stat.freed = 0;
  stats_.num_alloc_retries = stats_.num_ooms = stats_.num_device_alloc = stats_.num_device_free =
      stats_.num_cache_hits = 0;
}

Snapshot CachingAllocator::snapshot() const {
  std::lock_guard lock(mutex_);
  Snapshot snapshot;
  for (const auto& [address, segment] : segments_) {
    SegmentInfo info{address, segment.size, segment.head->stream, segment.head->small, {}};
    for (const Block* b = segment.head; b; b = b->next) {
      BlockState state = b->allocated           ? BlockState::allocated
                         : b->pending_events > 0 ? BlockState::pending_free
                                                 : BlockState::free;
      info.blocks.push_back({reinterpret_cast<uint64_t>(b->ptr), b->size, b->requested, state,
                             label_text(b->label)});
    }
    snapshot.segments.push_back(std::move(info));
  }
  return snapshot;
}

std::vector<TraceEvent> CachingAllocator::trace_events(uint64_t* dropped) const {
  std::lock_guard lock(mutex_);
  if (dropped) *dropped = trace_.dropped();
  return trace_.ordered();
}

}  // namespace pthrun
