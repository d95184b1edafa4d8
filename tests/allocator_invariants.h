// The caching allocator's invariants, checked against a test's own record of what is live and
// against the structure of the allocator's snapshot: shared by the host-backend suite
// (test_allocator.cpp) and the CUDA one (test_gpu_runtime.cpp).
#pragma once

#include <doctest/doctest.h>

#include <map>

#include "runtime/caching_allocator.h"

namespace pthrun::test {

inline int64_t cur(const StatArray& s, PoolIndex pool = all_pools) { return s[pool].current; }

// What a test knows independently of the allocator: live allocations by address.
struct Live {
  std::size_t requested;
  std::size_t rounded;
};

// Checks the allocator against the test's own record of live allocations and against the
// structure of its snapshot.
inline void check_invariants(const CachingAllocator& alloc, const std::map<uint64_t, Live>& live) {
  const Snapshot snap = alloc.snapshot();
  const AllocatorStats s = alloc.stats();
  uint64_t segments = 0, allocated = 0, inactive_split = 0, previous_end = 0;
  int64_t allocated_blocks = 0;
  for (const SegmentInfo& seg : snap.segments) {
    REQUIRE(seg.address >= previous_end);  // segments never overlap
    previous_end = seg.address + seg.size;
    segments += seg.size;
    uint64_t cursor = seg.address;
    bool previous_free = false;
    for (const BlockInfo& b : seg.blocks) {
      REQUIRE(b.address == cursor);  // blocks tile their segment, in order, inside it
      REQUIRE(b.size > 0);
      cursor += b.size;
      const bool free = b.state == BlockState::free;
      REQUIRE_FALSE((free && previous_free));  // adjacent free blocks are always merged
      previous_free = free;
      if (b.state == BlockState::allocated) {
        auto it = live.find(b.address);
        REQUIRE(it != live.end());
        REQUIRE(it->second.rounded == b.size);
        REQUIRE(it->second.requested == b.requested);
        allocated += b.size;
        ++allocated_blocks;
      }
      if (free && seg.blocks.size() > 1) inactive_split += b.size;
    }
    REQUIRE(cursor == seg.address + seg.size);
  }
  uint64_t live_rounded = 0, live_requested = 0, end = 0;
  for (const auto& [address, l] : live) {
    REQUIRE(address >= end);  // no two live blocks overlap
    end = address + l.rounded;
    live_rounded += l.rounded;
    live_requested += l.requested;
  }
  CHECK(cur(s.allocated_bytes) == static_cast<int64_t>(live_rounded));
  CHECK(allocated == live_rounded);
  CHECK(allocated_blocks == static_cast<int64_t>(live.size()));
  CHECK(cur(s.requested_bytes) == static_cast<int64_t>(live_requested));
  CHECK(cur(s.allocation) == static_cast<int64_t>(live.size()));
  CHECK(cur(s.reserved_bytes) == static_cast<int64_t>(segments));
  CHECK(cur(s.segment) == static_cast<int64_t>(snap.segments.size()));
  CHECK(cur(s.inactive_split_bytes) == static_cast<int64_t>(inactive_split));
  for (const StatArray* array : {&s.allocated_bytes, &s.reserved_bytes, &s.active_bytes,
                                 &s.inactive_split_bytes, &s.requested_bytes, &s.allocation,
                                 &s.segment, &s.active, &s.inactive_split}) {
    for (const Stat& stat : *array) {
      CHECK(stat.peak >= stat.current);
      CHECK(stat.current >= 0);
      CHECK(stat.allocated - stat.freed == stat.current);
    }
    CHECK((*array)[all_pools].current == (*array)[small_pool].current + (*array)[large_pool].current);
  }
}

}  // namespace pthrun::test
