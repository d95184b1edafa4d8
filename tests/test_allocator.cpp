// The caching allocator over the test backend (fake addresses, hand-driven streams), so that
// every figure is exact and every call to the "device" is counted.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <thread>

#include "runtime/alloc_config.h"
#include "runtime/alloc_trace.h"
#include "runtime/caching_allocator.h"
#include "runtime/error.h"
#include "runtime/memory_backend.h"
#include "tests/test_backend.h"
#include "tests/allocator_invariants.h"

using namespace pthrun;
using pthrun::test::TestBackend;
using namespace pthrun::test;

namespace {

constexpr std::size_t KiB = 1024, MiB = 1024 * 1024, GiB = 1024 * MiB;

struct Harness {
  explicit Harness(std::size_t capacity = 64 * GiB, AllocatorConfig config = {})
      : Harness(std::make_unique<TestBackend>(capacity), config) {}

  TestBackend* backend;
  CachingAllocator alloc;

 private:
  Harness(std::unique_ptr<TestBackend> b, AllocatorConfig config)
      : backend(b.get()), alloc(std::move(b), config) {}
};

uint64_t addr(const Allocation& a) { return reinterpret_cast<uint64_t>(a.get()); }

}  // namespace

TEST_CASE("requests are rounded up to 512 bytes and sorted into pools") {
  Harness h;
  Allocation a = h.alloc.allocate(1);
  AllocatorStats s = h.alloc.stats();
  CHECK(cur(s.allocated_bytes, small_pool) == 512);
  CHECK(cur(s.requested_bytes) == 1);
  CHECK(cur(s.reserved_bytes, small_pool) == 2 * MiB);  // small requests come from 2 MiB segments

  Allocation b = h.alloc.allocate(513);
  CHECK(addr(b) == addr(a) + 512);  // carved from the same segment, right after a
  CHECK(cur(h.alloc.stats().allocated_bytes) == 512 + 1024);

  Allocation c = h.alloc.allocate(1 * MiB);  // exactly 1 MiB is still small
  CHECK(cur(h.alloc.stats().allocated_bytes, small_pool) == 512 + 1024 + 1 * MiB);
  CHECK(cur(h.alloc.stats().segment, small_pool) == 1);

  Allocation d = h.alloc.allocate(1 * MiB + 1);  // large: a segment rounded up to 2 MiB
  s = h.alloc.stats();
  CHECK(cur(s.allocated_bytes, large_pool) == 1 * MiB + 512);
  CHECK(cur(s.reserved_bytes, large_pool) == 2 * MiB);
  Allocation e = h.alloc.allocate(3 * MiB);
  CHECK(cur(h.alloc.stats().reserved_bytes, large_pool) == 2 * MiB + 4 * MiB);
  CHECK(cur(h.alloc.stats().segment, large_pool) == 2);
  CHECK(h.backend->allocate_calls() == 3);
}

TEST_CASE("exact statistics after each step") {
  Harness h;
  Allocation a = h.alloc.allocate(1000);  // 1024 from a new 2 MiB small segment
  AllocatorStats s = h.alloc.stats();
  CHECK(cur(s.allocated_bytes) == 1024);
  CHECK(cur(s.requested_bytes) == 1000);
  CHECK(cur(s.active_bytes) == 1024);
  CHECK(cur(s.reserved_bytes) == 2 * MiB);
  CHECK(cur(s.inactive_split_bytes) == 2 * MiB - 1024);
  CHECK(cur(s.inactive_split) == 1);
  CHECK(cur(s.allocation) == 1);
  CHECK(cur(s.segment) == 1);
  CHECK(s.num_device_alloc == 1);
  CHECK(s.num_cache_hits == 0);

  Allocation b = h.alloc.allocate(3000);  // 3072, a cache hit in the same segment
  s = h.alloc.stats();
  CHECK(cur(s.allocated_bytes) == 1024 + 3072);
  CHECK(cur(s.inactive_split_bytes) == 2 * MiB - 1024 - 3072);
  CHECK(cur(s.inactive_split) == 1);
  CHECK(s.num_cache_hits == 1);

  a.reset();  // a free block before b: a second inactive split block
  s = h.alloc.stats();
  CHECK(cur(s.allocated_bytes) == 3072);
  CHECK(cur(s.requested_bytes) == 3000);
  CHECK(cur(s.inactive_split_bytes) == 2 * MiB - 3072);
  CHECK(cur(s.inactive_split) == 2);
  CHECK(s.allocated_bytes[all_pools].peak == 4096);
  CHECK(s.allocated_bytes[all_pools].allocated == 4096);
  CHECK(s.allocated_bytes[all_pools].freed == 1024);

  b.reset();  // everything merges back into one whole free segment: not split any more
  s = h.alloc.stats();
  CHECK(cur(s.allocated_bytes) == 0);
  CHECK(cur(s.active_bytes) == 0);
  CHECK(cur(s.inactive_split_bytes) == 0);
  CHECK(cur(s.inactive_split) == 0);
  CHECK(cur(s.reserved_bytes) == 2 * MiB);
  CHECK(h.alloc.snapshot().segments.at(0).blocks.size() == 1);

  h.alloc.reset_peak();
  CHECK(h.alloc.stats().allocated_bytes[all_pools].peak == 0);
  CHECK(h.alloc.stats().reserved_bytes[all_pools].peak == 2 * MiB);
  h.alloc.reset_accumulated();
  s = h.alloc.stats();
  CHECK(s.allocated_bytes[all_pools].allocated == 0);
  CHECK(s.allocated_bytes[all_pools].freed == 0);
  CHECK(s.num_device_alloc == 0);
  CHECK(s.num_cache_hits == 0);
  CHECK(cur(s.reserved_bytes) == 2 * MiB);  // current values are untouched
}

TEST_CASE("split keeps the remainder, free merges neighbours, best fit picks the smallest") {
  Harness h;
  std::map<uint64_t, Live> live;
  Allocation blocks[7];
  const std::size_t sizes[7] = {4 * KiB, 512, 16 * KiB, 512, 8 * KiB, 512, 64 * KiB};
  for (int i = 0; i < 7; ++i) blocks[i] = h.alloc.allocate(sizes[i]);
  for (int i = 1; i < 7; ++i) CHECK(addr(blocks[i]) == addr(blocks[i - 1]) + sizes[i - 1]);
  const uint64_t hole_4k = addr(blocks[0]), hole_16k = addr(blocks[2]), hole_8k = addr(blocks[4]);
  blocks[0].reset();
  blocks[2].reset();
  blocks[4].reset();
  Allocation fit = h.alloc.allocate(5 * KiB);  // the 8 KiB hole fits best
  CHECK(addr(fit) == hole_8k);
  Allocation exact = h.alloc.allocate(4 * KiB);
  CHECK(addr(exact) == hole_4k);
  Allocation rest = h.alloc.allocate(3 * KiB);  // the 3 KiB left of the 8 KiB hole, after `fit`
  CHECK(addr(rest) == hole_8k + 5 * KiB);
  for (auto* a : {&fit, &exact, &rest}) live[addr(*a)] = {a->size(), a->size()};
  for (int i : {1, 3, 5, 6}) live[addr(blocks[i])] = {sizes[i], sizes[i]};
  check_invariants(h.alloc, live);

  // Free everything in an interleaved order: the segment must end as one free block.
  for (int i : {5, 1, 6, 3}) blocks[i].reset();
  exact.reset();
  fit.reset();
  rest.reset();
  Snapshot snap = h.alloc.snapshot();
  REQUIRE(snap.segments.size() == 1);
  CHECK(snap.segments[0].blocks.size() == 1);
  CHECK(snap.segments[0].blocks[0].state == BlockState::free);
  CHECK(snap.segments[0].blocks[0].size == 2 * MiB);
  (void)hole_16k;
}

TEST_CASE("a freed block is reused at once on its own stream, and only there") {
  Harness h;
  const StreamId s1 = 0x1000, s2 = 0x2000;
  Allocation a = h.alloc.allocate(4096, s1);
  const uint64_t first = addr(a);
  a.reset();
  Allocation b = h.alloc.allocate(4096, s1);
  CHECK(addr(b) == first);
  b.reset();
  Allocation c = h.alloc.allocate(4096, s2);  // another stream gets a segment of its own
  CHECK(addr(c) != first);
  CHECK(cur(h.alloc.stats().segment) == 2);
  CHECK(h.alloc.snapshot().segments[0].stream == s1);
}

TEST_CASE("record_stream: reuse waits until the other stream's work is done") {
  Harness h;
  const StreamId s1 = 0x1000, s2 = 0x2000;
  Allocation d = h.alloc.allocate(4096, s1);
  const uint64_t block = addr(d);
  h.alloc.record_stream(d, s2);
  h.alloc.record_stream(d, s1);  // its own stream: nothing to wait for
  d.reset();
  AllocatorStats s = h.alloc.stats();
  CHECK(cur(s.allocated_bytes) == 0);
  CHECK(cur(s.active_bytes) == 4096);  // still in use by s2
  CHECK(h.alloc.snapshot().segments[0].blocks[0].state == BlockState::pending_free);

  Allocation e = h.alloc.allocate(4096, s1);
  CHECK(addr(e) != block);
  h.backend->finish_stream(s2);
  Allocation f = h.alloc.allocate(4096, s1);
  CHECK(addr(f) == block);
  CHECK(cur(h.alloc.stats().active_bytes) == 8192);
}

TEST_CASE("a cache hit makes no backend call") {
  Harness h;
  { Allocation warm = h.alloc.allocate(100 * KiB); }
  { Allocation warm = h.alloc.allocate(8 * MiB); }
  const int64_t allocs = h.backend->allocate_calls(), frees = h.backend->deallocate_calls(),
                events = h.backend->event_calls();
  for (int i = 0; i < 1000; ++i) {
    Allocation a = h.alloc.allocate(100 * KiB);
    Allocation b = h.alloc.allocate(8 * MiB);
  }
  CHECK(h.backend->allocate_calls() == allocs);
  CHECK(h.backend->deallocate_calls() == frees);
  CHECK(h.backend->event_calls() == events);
  CHECK(h.alloc.stats().num_cache_hits == 2000);
}

TEST_CASE("out of memory: release the cache, retry once, then a full message") {
  Harness h(8 * MiB);
  { Allocation cached = h.alloc.allocate(4 * MiB); }
  CHECK(cur(h.alloc.stats().reserved_bytes) == 4 * MiB);
  Allocation big = h.alloc.allocate(6 * MiB);  // 4 cached + 6 > 8: release, then retry
  AllocatorStats s = h.alloc.stats();
  CHECK(s.num_alloc_retries == 1);
  CHECK(s.num_device_free == 1);
  CHECK(s.num_ooms == 0);
  CHECK(cur(s.reserved_bytes) == 6 * MiB);

  std::string message;
  try {
    Allocation more = h.alloc.allocate(4 * MiB);
  } catch (const OutOfMemory& e) {
    message = e.what();
    CHECK(e.requested_bytes() == 4 * MiB);
  }
  CHECK(message ==
        "out of memory on cuda:0: tried to allocate 4.00 MiB (4194304 bytes); device capacity "
        "8.00 MiB, 2.00 MiB free; pthrun has 6.00 MiB allocated, 6.00 MiB reserved (0 B reserved "
        "but unallocated)");
  s = h.alloc.stats();
  CHECK(s.num_ooms == 1);
  CHECK(s.num_alloc_retries == 2);
  CHECK(cur(s.allocated_bytes) == 6 * MiB);  // nothing leaked, nothing lost
  check_invariants(h.alloc, {{addr(big), {6 * MiB, 6 * MiB}}});
}

TEST_CASE("the cap simulates a small device") {
  AllocatorConfig config;
  config.cap_bytes = 10 * MiB;
  Harness h(1 * GiB, config);
  CHECK(h.alloc.memory_limit() == 10 * MiB);
  Allocation a = h.alloc.allocate(8 * MiB);
  CHECK_THROWS_WITH_AS(h.alloc.allocate(4 * MiB),
                       doctest::Contains("; cap 10.00 MiB"), OutOfMemory);
  h.alloc.set_cap(0);
  Allocation b = h.alloc.allocate(4 * MiB);
  CHECK(cur(h.alloc.stats().reserved_bytes) == 12 * MiB);

  AllocatorConfig fraction;
  fraction.cap_fraction = 0.5;
  Harness f(16 * MiB, fraction);
  CHECK(f.alloc.memory_limit() == 8 * MiB);
  Allocation c = f.alloc.allocate(8 * MiB);
  CHECK_THROWS_AS(f.alloc.allocate(2 * MiB), OutOfMemory);
}

TEST_CASE("empty_cache returns whole free segments and keeps the rest") {
  Harness h;
  Allocation small = h.alloc.allocate(4096);
  { Allocation large = h.alloc.allocate(32 * MiB); }
  { Allocation other = h.alloc.allocate(4096, 0x3000); }
  CHECK(cur(h.alloc.stats().segment) == 3);
  h.alloc.empty_cache();
  AllocatorStats s = h.alloc.stats();
  CHECK(cur(s.segment) == 1);  // the segment `small` lives in stays
  CHECK(cur(s.reserved_bytes) == 2 * MiB);
  CHECK(s.num_device_free == 2);
  CHECK(h.backend->used() == 2 * MiB);
}

TEST_CASE("reserve: one segment up front serves a series of large allocations") {
  Harness h;
  h.alloc.reserve(100 * MiB);
  std::vector<Allocation> weights;
  for (int i = 0; i < 10; ++i) weights.push_back(h.alloc.allocate(9 * MiB + 512 * KiB));
  AllocatorStats s = h.alloc.stats();
  CHECK(cur(s.segment) == 1);
  CHECK(cur(s.reserved_bytes) == 100 * MiB);
  CHECK(cur(s.allocated_bytes) == 95 * MiB);
  CHECK(s.num_device_alloc == 1);
}

TEST_CASE("oversize blocks are never split and serve only near-fitting requests") {
  AllocatorConfig config = AllocatorConfig::parse("max_split_size_mb:8");
  Harness h(64 * GiB, config);
  { Allocation a = h.alloc.allocate(10 * MiB); }
  Allocation b = h.alloc.allocate(4 * MiB);  // an ordinary request never takes the 10 MiB block
  CHECK(cur(h.alloc.stats().segment) == 2);
  Allocation c = h.alloc.allocate(9 * MiB);  // oversize: takes the cached 10 MiB block whole
  CHECK(cur(h.alloc.stats().segment) == 2);
  CHECK(cur(h.alloc.stats().allocated_bytes) == 4 * MiB + 10 * MiB);
  { Allocation d = h.alloc.allocate(40 * MiB); }
  Allocation e = h.alloc.allocate(12 * MiB);  // 28 MiB of waste is too much: a new segment
  CHECK(cur(h.alloc.stats().segment) == 4);
}

TEST_CASE("no-caching mode sends every request to the backend") {
  AllocatorConfig config = AllocatorConfig::parse("mode:nocache");
  Harness h(64 * GiB, config);
  CHECK(h.alloc.mode() == "no-caching");
  for (int i = 0; i < 10; ++i) {
    Allocation a = h.alloc.allocate(1000);
    CHECK(cur(h.alloc.stats().reserved_bytes) == 1024);
  }
  CHECK(h.backend->allocate_calls() == 10);
  CHECK(h.backend->deallocate_calls() == 10);
  CHECK(cur(h.alloc.stats().reserved_bytes) == 0);
  // With another stream recorded, the free waits for it before the memory goes back.
  Allocation b = h.alloc.allocate(4096, 0x1000);
  h.alloc.record_stream(b, 0x2000);
  b.reset();
  CHECK(h.backend->deallocate_calls() == 11);
  CHECK(h.backend->used() == 0);
}

TEST_CASE("randomised: 20,000 mixed operations keep every invariant") {
  Harness h(1 * GiB);
  std::mt19937_64 rng(12345);
  std::map<uint64_t, Live> live;
  std::map<uint64_t, Allocation> handles;
  const StreamId streams[] = {0, 0x1000, 0x2000};
  auto random_size = [&]() -> std::size_t {
    switch (rng() % 10) {
      case 0: return std::size_t{512} << (rng() % 13);  // exact edges: 512 B .. 2 MiB
      case 1: return 1 * MiB + rng() % 2;
      case 2: case 3: case 4: return 1 + rng() % (64 * KiB);
      case 5: case 6: return 1 + rng() % (1 * MiB);
      default: return 1 * MiB + 1 + rng() % (40 * MiB);
    }
  };
  int ooms = 0;
  for (int step = 0; step < 20000; ++step) {
    const unsigned op = rng() % 100;
    if (op < 50 || handles.empty()) {
      const std::size_t size = random_size();
      try {
        Allocation a = h.alloc.allocate(size, streams[rng() % 3]);
        live[addr(a)] = {size, (size + 511) / 512 * 512};
        handles.emplace(addr(a), std::move(a));
      } catch (const OutOfMemory&) {
        ++ooms;
      }
    } else if (op < 90) {
      auto it = std::next(handles.begin(), static_cast<long>(rng() % handles.size()));
      live.erase(it->first);
      handles.erase(it);
    } else if (op < 95) {
      auto it = std::next(handles.begin(), static_cast<long>(rng() % handles.size()));
      h.alloc.record_stream(it->second, streams[rng() % 3]);
    } else if (op < 99) {
      h.backend->finish_stream(streams[rng() % 3]);
    } else {
      h.alloc.empty_cache();
    }
    check_invariants(h.alloc, live);
  }
  handles.clear();
  live.clear();
  h.alloc.empty_cache();
  check_invariants(h.alloc, live);
  CHECK(cur(h.alloc.stats().reserved_bytes) == 0);
  CHECK(h.backend->used() == 0);
  MESSAGE("out-of-memory outcomes during the run: ", ooms);
}

TEST_CASE("thread-safe under concurrent use") {
  Harness h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      std::vector<Allocation> mine;
      for (int i = 0; i < 5000; ++i) {
        if (mine.size() < 20 && rng() % 2) mine.push_back(h.alloc.allocate(1 + rng() % (3 * MiB), static_cast<StreamId>(t)));
        else if (!mine.empty()) mine.erase(mine.begin() + static_cast<long>(rng() % mine.size()));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  check_invariants(h.alloc, {});
  CHECK(cur(h.alloc.stats().allocated_bytes) == 0);
}

TEST_CASE("trace: bounded ring, scope labels and a JSON round trip") {
  AllocatorConfig config = AllocatorConfig::parse("trace:1,trace_entries:1000");
  Harness h(8 * MiB, config);
  Allocation kept;
  {
    AllocScope load("load");
    AllocScope tensor("tok_emb.weight");
    kept = h.alloc.allocate(3 * MiB);
  }
  { Allocation temp = h.alloc.allocate(100); }
  CHECK_THROWS_AS(h.alloc.allocate(7 * MiB), OutOfMemory);
  h.alloc.empty_cache();

  uint64_t dropped = 1;
  std::vector<TraceEvent> events = h.alloc.trace_events(&dropped);
  CHECK(dropped == 0);
  std::vector<TraceAction> actions;
  for (const TraceEvent& e : events) actions.push_back(e.action);
  CHECK(actions == std::vector<TraceAction>{TraceAction::segment_alloc, TraceAction::alloc,
                                            TraceAction::segment_alloc, TraceAction::alloc,
                                            TraceAction::free, TraceAction::segment_free,
                                            TraceAction::oom, TraceAction::empty_cache});
  CHECK(label_text(events[1].label) == "load/tok_emb.weight");
  CHECK(events[1].requested == 3 * MiB);
  CHECK(label_text(events[3].label) == "");
  for (std::size_t i = 1; i < events.size(); ++i) CHECK(events[i].time_ns >= events[i - 1].time_ns);

  const TraceDocument doc = capture_trace(h.alloc);
  const TraceDocument back = trace_from_json(trace_to_json(doc));
  CHECK(back.device == "cuda:0");
  CHECK(back.mode == "caching");
  CHECK(back.capacity == 8 * MiB);
  REQUIRE(back.events.size() == events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(back.events[i].event.action == events[i].action);
    CHECK(back.events[i].event.time_ns == events[i].time_ns);
    CHECK(back.events[i].event.address == events[i].address);
    CHECK(back.events[i].event.size == events[i].size);
    CHECK(back.events[i].event.requested == events[i].requested);
    CHECK(back.events[i].event.stream == events[i].stream);
    CHECK(back.events[i].label == label_text(events[i].label));
  }
  REQUIRE(back.snapshot.segments.size() == 1);
  CHECK(back.snapshot.segments[0].blocks[0].label == "load/tok_emb.weight");
  CHECK(back.snapshot.segments[0].blocks[0].state == BlockState::allocated);
  CHECK(back.stats.allocated_bytes[large_pool].peak == doc.stats.allocated_bytes[large_pool].peak);
  CHECK(back.stats.num_ooms == 1);
  CHECK(trace_to_json(back) == trace_to_json(doc));

  AllocatorConfig tiny = AllocatorConfig::parse("trace:1,trace_entries:4");
  Harness t(64 * GiB, tiny);
  for (int i = 0; i < 5; ++i) Allocation a = t.alloc.allocate(512);  // 1 segment + 5 allocs + 5 frees
  CHECK(t.alloc.trace_events(&dropped).size() == 4);
  CHECK(dropped == 7);
  CHECK_THROWS_WITH(trace_from_json("{\"schema\": \"other\"}"),
                    doctest::Contains("not a pthrun allocator trace"));
}

TEST_CASE("PTHRUN_ALLOC_CONF parsing") {
  AllocatorConfig c = AllocatorConfig::parse("cap:2GiB,trace:1,trace_entries:500,max_split_size_mb:64");
  CHECK(c.cap_bytes == 2 * GiB);
  CHECK(c.trace);
  CHECK(c.trace_entries == 500);
  CHECK(c.max_split_size == 64 * MiB);
  CHECK(AllocatorConfig::parse("mode:nocache").mode == AllocatorMode::nocache);
  CHECK(AllocatorConfig::parse("cap:1.5MB").cap_bytes == 1500000);
  CHECK(AllocatorConfig::parse("cap_fraction:0.25").cap_fraction == 0.25);
  CHECK(AllocatorConfig::parse("").mode == AllocatorMode::caching);
  CHECK_THROWS_WITH(AllocatorConfig::parse("colour:red"), doctest::Contains("unknown key 'colour'"));
  CHECK_THROWS_WITH(AllocatorConfig::parse("cap:lots"), doctest::Contains("byte size 'lots'"));
  CHECK_THROWS_WITH(AllocatorConfig::parse("cap_fraction:2"), doctest::Contains("(0, 1]"));
  CHECK_THROWS_WITH(AllocatorConfig::parse("trace"), doctest::Contains("expected key:value"));
  CHECK_THROWS_WITH(AllocatorConfig::parse("mode:fast"), doctest::Contains("caching, nocache or async"));
}

// Found by tools/fuzz.sh (fuzz_cli_args): a size beyond size_t's range was converted anyway,
// undefined behaviour that gave max_split_size 0 in a release build.
TEST_CASE("PTHRUN_ALLOC_CONF max_split_size_mb: too large for size_t is refused") {
  const std::string crasher = "cap:2GiB,trace:1,trace_entries:500,max_split_size_mb:6" + std::string(78, '7') +
                              "4,mode:asiync,ting:1";
  CHECK_THROWS_WITH(AllocatorConfig::parse(crasher), doctest::Contains("max_split_size_mb: expected 1 to 17592186044415"));
  CHECK_THROWS_WITH(AllocatorConfig::parse("max_split_size_mb:1e300"), doctest::Contains("expected 1 to"));
  CHECK_THROWS(AllocatorConfig::parse("max_split_size_mb:17592186044416"));
  CHECK(AllocatorConfig::parse("max_split_size_mb:17592186044415").max_split_size == 17592186044415 * MiB);
}

TEST_CASE("the host backend: buffers of 2 MiB and more start on a 2 MiB boundary, for huge pages") {
  HostBackend host;
  for (std::size_t bytes : {2 * MiB, 3 * MiB + 5, 40 * MiB}) {
    CAPTURE(bytes);
    auto* p = static_cast<unsigned char*>(host.allocate(bytes));
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<uintptr_t>(p) % (2 * MiB) == 0);
    std::fill(p, p + bytes, 0x5a);  // every byte is ours
    CHECK(p[bytes - 1] == 0x5a);
    host.deallocate(p, bytes);
  }
  for (std::size_t bytes : {std::size_t{1}, std::size_t{300}, 2 * MiB - 1}) {
    CAPTURE(bytes);
    void* p = host.allocate(bytes);
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<uintptr_t>(p) % 256 == 0);
    host.deallocate(p, bytes);
  }
}
