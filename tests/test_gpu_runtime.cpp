// The runtime on a CUDA device: conversions bit-identical to the CPU's, copies across devices,
// dtypes and strides, streams, events, pinned memory and graphs, and the caching allocator's
// suite over cudaMalloc (as test_allocator.cpp runs it over the test backend). Stream ordering
// is tested against a stream kept busy for a known time (the backend's busy_wait kernel), so
// that a missing wait shows as a wrong value or a reused block. Without a device the suite
// reports itself skipped (gpu_test_main.cpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include "runtime/alloc_config.h"
#include "runtime/caching_allocator.h"
#include "runtime/alloc_trace.h"
#include "runtime/cuda_graph.h"
#include "runtime/cuda_plugin.h"
#include "runtime/error.h"
#include "runtime/half.h"
#include "runtime/memory_backend.h"
#include "runtime/pinned_buffer.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"
#include "tests/allocator_invariants.h"

using namespace pthrun;
using namespace pthrun::test;

namespace {

const Device gpu = cuda_device(0);
constexpr std::size_t MiB = 1 << 20;

std::vector<uint16_t> all_patterns() {
  std::vector<uint16_t> out(65536);
  for (uint32_t i = 0; i < 65536; ++i) out[i] = static_cast<uint16_t>(i);
  return out;
}

std::vector<uint32_t> bits_of(const Tensor& f32) {
  const Tensor host = f32.to(cpu_device).contiguous();
  std::vector<uint32_t> out(static_cast<std::size_t>(host.numel()));
  std::memcpy(out.data(), host.data_ptr(), out.size() * 4);
  return out;
}

std::vector<uint16_t> bits16_of(const Tensor& t) {
  const Tensor host = t.to(cpu_device).contiguous();
  std::vector<uint16_t> out(static_cast<std::size_t>(host.numel()));
  std::memcpy(out.data(), host.data_ptr(), out.size() * 2);
  return out;
}

// How two bit patterns' vectors differ, for a failure's message: how many, and the first few
// (index: gpu, cpu) in hex.
template <typename Bits>
std::string differences(const std::vector<Bits>& gpu_bits, const std::vector<Bits>& cpu_bits) {
  std::ostringstream out;
  out << std::hex;
  int64_t count = 0;
  for (std::size_t i = 0; i < gpu_bits.size() && i < cpu_bits.size(); ++i)
    if (gpu_bits[i] != cpu_bits[i] && count++ < 8)
      out << " [" << i << ": gpu " << +gpu_bits[i] << ", cpu " << +cpu_bits[i] << "]";
  return std::to_string(count) + " differ:" + out.str();
}

uint64_t addr(const Allocation& a) { return reinterpret_cast<uint64_t>(a.get()); }

// Keeps `stream` busy for `ms` milliseconds: work queued after this waits that long.
void busy(const Stream& stream, uint32_t ms) {
  cuda_check(cuda_plugin().busy_wait(stream.device().index, stream.native(), ms * 1000));
}

}  // namespace

TEST_CASE("f16 and bf16 conversions on the GPU are bit-identical to the CPU's") {
  const std::vector<uint16_t> patterns = all_patterns();
  for (DType half : {DType::f16, DType::bf16}) {
    const std::string dtype_text = dtype_name(half);
    CAPTURE(dtype_text);
    const Tensor host = Tensor::from_host(patterns.data(), {65536}, half);
    const std::vector<uint32_t> widened = bits_of(host.to(gpu).to(DType::f32)), expected = bits_of(host.to(DType::f32));
    INFO(differences(widened, expected));
    CHECK(widened == expected);  // all 65,536 widened
  }
  std::mt19937 rng(11);
  std::vector<float> floats(1 << 20);
  for (float& f : floats) {
    const uint32_t bits = rng();
    std::memcpy(&f, &bits, 4);
  }
  floats[0] = 65520.0f;  // rounding edges
  floats[1] = std::ldexp(1.0f, -25);
  floats[2] = -0.0f;
  const Tensor host = Tensor::from_vector(floats, {static_cast<int64_t>(floats.size())});
  for (DType half : {DType::f16, DType::bf16}) {
    const std::string dtype_text = dtype_name(half);
    CAPTURE(dtype_text);
    const std::vector<uint16_t> rounded = bits16_of(host.to(gpu).to(half)), expected = bits16_of(host.to(half));
    INFO(differences(rounded, expected));
    CHECK(rounded == expected);
  }
}

TEST_CASE("copies across devices, dtypes and strides") {
  std::vector<float> values(3 * 5 * 7);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.5f - 20;
  const Tensor host = Tensor::from_vector(values, {3, 5, 7});
  const Tensor device = host.to(gpu);
  CHECK(device.device() == gpu);
  CHECK(device.to_doubles() == host.to_doubles());
  const Tensor view = device.transpose(0, 2).slice(1, 1, 4);  // strided, offset, on the device
  CHECK(view.to_doubles() == host.transpose(0, 2).slice(1, 1, 4).to_doubles());
  CHECK(view.contiguous().is_contiguous());
  CHECK(view.to(DType::f64).to_doubles() == view.to_doubles());
  // Into a strided device destination, from the host with a conversion.
  const Tensor dst = Tensor::zeros({7, 5, 3}, DType::bf16, gpu);
  dst.copy_from(host.transpose(0, 2));
  CHECK(dst.to_doubles() == host.transpose(0, 2).to(DType::bf16).to_doubles());
  const Tensor filled = Tensor::empty({4, 6}, DType::f16, gpu);
  filled.slice(1, 2, 5).fill_(-1.5);
  CHECK(filled.slice(1, 2, 5).to_doubles() == std::vector<double>(12, -1.5));
}

TEST_CASE("streams, events, pinned memory and memcpy_async") {
  const Stream stream = Stream::create(gpu);
  PinnedBuffer pinned(1024 * sizeof(float), gpu);
  CHECK(pinned.pinned());
  for (int i = 0; i < 1024; ++i) pinned.as<float>()[i] = static_cast<float>(i);
  const Tensor device = Tensor::empty({1024}, DType::f32, gpu, stream.id());
  Event start = Event::create(gpu, true), stop = Event::create(gpu, true);
  start.record(stream);
  memcpy_async(device.data_ptr(), pinned.data(), 1024 * sizeof(float), stream);
  stop.record(stream);
  stop.synchronize();
  CHECK(stop.done());
  CHECK(stop.elapsed_ms_since(start) >= 0);
  stream.synchronize();
  CHECK(device.to_doubles()[1023] == 1023);
}

TEST_CASE("a CUDA graph replays its copies with the inputs of the moment") {
  const Stream stream = Stream::create(gpu);
  PinnedBuffer input(16 * sizeof(float), gpu);
  const Tensor device = Tensor::empty({16}, DType::f32, gpu, stream.id());
  const Tensor wider = Tensor::empty({16}, DType::f64, gpu, stream.id());
  CudaGraph graph;
  const std::string failure = graph.capture(stream, [&] {
    memcpy_async(device.data_ptr(), input.data(), 16 * sizeof(float), stream);
    wider.copy_from(device, &stream);
  });
  CHECK(failure == "");
  REQUIRE(graph.ready());
  for (float round : {1.0f, 2.0f}) {
    for (int i = 0; i < 16; ++i) input.as<float>()[i] = round * static_cast<float>(i);
    graph.replay(stream);
    stream.synchronize();
    CHECK(wider.to_doubles()[15] == 15.0 * round);
  }
}

TEST_CASE("a capture that fails ends the stream's capture and says why; the stream keeps working") {
  const Stream stream = Stream::create(gpu);
  PinnedBuffer input(16 * sizeof(float), gpu);
  const Tensor device = Tensor::empty({16}, DType::f32, gpu, stream.id());
  CudaGraph graph;
  // An exception in the middle of the captured work.
  const std::string thrown = graph.capture(stream, [&] {
    memcpy_async(device.data_ptr(), input.data(), 16 * sizeof(float), stream);
    throw Error("the step failed");
  });
  CHECK(thrown == "the step failed");
  CHECK_FALSE(graph.ready());
  CHECK_FALSE(CudaGraph::capturing(stream));
  // A synchronisation inside the capture invalidates it: CUDA's own failure, reported.
  const std::string invalid = graph.capture(stream, [&] { stream.synchronize(); });
  CHECK_FALSE(invalid.empty());
  CHECK_FALSE(graph.ready());
  CHECK_FALSE(CudaGraph::capturing(stream));
  // The stream and the device are fine afterwards.
  for (int i = 0; i < 16; ++i) input.as<float>()[i] = 2.0f;
  memcpy_async(device.data_ptr(), input.data(), 16 * sizeof(float), stream);
  stream.synchronize();
  CHECK(device.to_doubles()[15] == 2.0);
}

TEST_CASE("the caching allocator over cudaMalloc: the invariants through 5,000 random operations") {
  CachingAllocator alloc(make_cuda_backend(gpu));
  const Stream s1 = Stream::create(gpu), s2 = Stream::create(gpu);
  const StreamId streams[] = {s1.id(), s2.id()};
  std::mt19937_64 rng(7);
  std::map<uint64_t, Live> live;
  std::map<uint64_t, Allocation> handles;
  for (int step = 0; step < 5000; ++step) {
    const unsigned op = rng() % 100;
    if (op < 50 || handles.empty()) {
      const std::size_t size = rng() % 4 ? 1 + rng() % (1 * MiB) : 1 * MiB + rng() % (24 * MiB);
      Allocation a = alloc.allocate(size, streams[rng() % 2]);
      live[addr(a)] = {size, (size + 511) / 512 * 512};
      handles.emplace(addr(a), std::move(a));
    } else if (op < 90) {
      auto it = std::next(handles.begin(), static_cast<long>(rng() % handles.size()));
      live.erase(it->first);
      handles.erase(it);
    } else if (op < 97) {
      auto it = std::next(handles.begin(), static_cast<long>(rng() % handles.size()));
      alloc.record_stream(it->second, streams[rng() % 2]);
    } else {
      s1.synchronize();
      s2.synchronize();
    }
    check_invariants(alloc, live);
  }
  handles.clear();
  live.clear();
  s1.synchronize();
  s2.synchronize();
  alloc.empty_cache();
  check_invariants(alloc, live);
  CHECK(cur(alloc.stats().reserved_bytes) == 0);
}

TEST_CASE("on the GPU a cache hit calls no cudaMalloc; out of memory says what it knows") {
  AllocatorConfig config;
  config.cap_bytes = 64 * MiB;
  CachingAllocator alloc(make_cuda_backend(gpu), config);
  { Allocation warm = alloc.allocate(8 * MiB); }
  const int64_t device_allocs = alloc.stats().num_device_alloc;
  for (int i = 0; i < 100; ++i) Allocation a = alloc.allocate(8 * MiB);
  CHECK(alloc.stats().num_device_alloc == device_allocs);
  CHECK_THROWS_WITH_AS(alloc.allocate(100 * MiB), doctest::Contains("out of memory on cuda:0: tried to allocate 100.00 MiB"),
                       OutOfMemory);
  // Refused by the cap, the allocator gave its cache back to the device before retrying (as
  // test_allocator's out-of-memory case shows on the host): nothing is reserved now. The first
  // GPU run measured the device's free memory only after this, and so saw empty_cache free
  // nothing; a block cached again is what empty_cache must give back.
  CHECK(alloc.stats().num_alloc_retries == 1);
  CHECK(cur(alloc.stats().reserved_bytes) == 0);
  { Allocation again = alloc.allocate(8 * MiB); }
  CHECK(cur(alloc.stats().reserved_bytes) >= static_cast<int64_t>(8 * MiB));
  const std::size_t free_before = alloc.device_free();
  alloc.empty_cache();
  CHECK(cur(alloc.stats().reserved_bytes) == 0);
  CHECK(alloc.device_free() >= free_before + 8 * MiB);
}

TEST_CASE("record_stream on real streams: a block in use by a busy stream is not handed out again") {
  CachingAllocator alloc(make_cuda_backend(gpu));
  const Stream s1 = Stream::create(gpu), s2 = Stream::create(gpu);
  Allocation a = alloc.allocate(4096, s1.id());
  const uint64_t block = addr(a);
  busy(s2, 200);  // s2's queued work, which (as record_stream declares) uses `a`
  alloc.record_stream(a, s2.id());
  a.reset();
  Allocation b = alloc.allocate(4096, s1.id());
  CHECK(addr(b) != block);  // without record_stream's event, `a`'s block would come back at once
  s2.synchronize();
  b.reset();
  Allocation c = alloc.allocate(4096, s1.id());
  CHECK(addr(c) == block);  // s2 is done: the block is free again
}

TEST_CASE("copies and fills without a stream wait for every stream's work, and finish before returning") {
  const Stream s = Stream::create(gpu);
  const Tensor t = Tensor::empty({1 << 20}, DType::f32, gpu, s.id());
  t.fill_(1, &s);
  busy(s, 100);
  t.fill_(2, &s);  // runs 100 ms from now
  // Unordered with s (the legacy default stream does not wait for a non-blocking stream), the
  // reads below would see 1s.
  const std::vector<double> seen = t.to_doubles();
  CHECK(std::count(seen.begin(), seen.end(), 2.0) == static_cast<long>(seen.size()));

  const Tensor copy = Tensor::empty({1 << 20}, DType::f32, gpu);
  busy(s, 100);
  t.fill_(3, &s);
  copy.copy_from(t);  // device to device
  CHECK(copy.to_doubles() == std::vector<double>(1 << 20, 3.0));

  busy(s, 100);
  t.fill_(4, &s);
  t.fill_(5);  // must land after s's 4s, not before them
  s.synchronize();
  CHECK(t.to_doubles() == std::vector<double>(1 << 20, 5.0));
}

TEST_CASE("a stream's cuBLASLt workspace is allocated once, labelled, and freed with the stream") {
  Allocator& alloc = device_allocator(gpu);
  const int64_t before = alloc.stats().allocated_bytes[all_pools].current;
  {
    const Stream stream = Stream::create(gpu);
    void* first = stream.workspace(32 << 20);
    CHECK(stream.workspace(1 << 20) == first);  // smaller: the same memory
    CHECK(alloc.stats().allocated_bytes[all_pools].current - before >= int64_t{32} << 20);
    bool labelled = false;
    for (const SegmentInfo& segment : alloc.snapshot().segments)
      for (const BlockInfo& b : segment.blocks)
        labelled |= b.address == reinterpret_cast<uint64_t>(first) && b.label == "workspace";
    CHECK(labelled);
    busy(stream, 50);  // the destructor must wait for this before the memory goes back
  }
  CHECK(alloc.stats().allocated_bytes[all_pools].current == before);
}

TEST_CASE("CUDA's stream-ordered pool behind the same interface") {
  AllocatorConfig config = AllocatorConfig::parse("mode:async,trace:1,timing:1");
  std::unique_ptr<Allocator> alloc = make_allocator(gpu, config);
  CHECK(alloc->mode() == "cuda-async");
  const Stream stream = Stream::create(gpu);
  {
    Allocation a = alloc->allocate(3 * MiB, stream.id());
    Allocation b = alloc->allocate(100, stream.id());
    CHECK(alloc->stats().allocated_bytes[all_pools].current == static_cast<int64_t>(3 * MiB + 100));
    CHECK(alloc->snapshot().segments.size() == 2);
  }
  stream.synchronize();
  const AllocatorStats s = alloc->stats();
  CHECK(s.allocated_bytes[all_pools].current == 0);
  CHECK(s.num_device_alloc == 2);
  CHECK(s.alloc_ns > 0);
  CHECK(alloc->trace_events().size() == 4);
}
