// load_tensors into GPU destinations (run on a machine with a CUDA device; skipped without):
// values of every fixture through the pinned ring with staging smaller than, equal to and
// larger than the data; conversion; strided destinations; tied storages; device peak equal to
// the destinations (plus one chunk only for strided destinations); host memory bounded by the
// staging ring; and the writer saving device tensors.
#include <malloc.h>

#include <map>

#include "loader/checkpoint.h"
#include "loader/pth_writer.h"
#include "loader/stream_loader.h"
#include "loader_test_util.h"
#include "runtime/alloc_trace.h"
#include "runtime/caching_allocator.h"
#include "runtime/half.h"
#include "runtime/host_memory.h"
#include "runtime/memory_backend.h"

using namespace pthrun;
using namespace pthrun::test;

namespace {

constexpr std::size_t MiB = std::size_t(1) << 20;
const Device gpu = cuda_device(0);

std::map<std::string, JsonValue> manifest_values(const std::string& path) {
  std::map<std::string, JsonValue> out;
  const JsonValue m = manifest(path + ".json");
  for (const JsonValue& t : m.at("tensors")) out[t.at("name").get<std::string>()] = t.at("values");
  return out;
}

LoadOptions quiet(std::size_t staging) {
  LoadOptions options;
  options.staging_bytes = staging;
  return options;
}

}  // namespace

TEST_CASE("fixtures load into GPU destinations with any staging size") {
  CachingAllocator allocator(make_cuda_backend(gpu));
  for (const std::string file : {"loader/torch1.13/views.pth", "loader/torch2.15/views.pth", "loader/torch2.5/all_dtypes.pth",
                           "loader/torch2.15/tensors.safetensors", "loader/torch1.13/legacy.pth",
                           "loader/torch2.15/deflated.pth", "loader/torch2.15/per_tensor"}) {
    const std::string path = fixture(file);
    const Checkpoint ckpt = Checkpoint::open(path);
    const auto values = manifest_values(path);
    for (std::size_t staging : {std::size_t(8), std::size_t(64), std::size_t(4096), 64 * MiB}) {
      INFO(path << " staging " << staging);
      std::vector<LoadRequest> requests;
      for (const TensorInfo& t : ckpt.tensors()) requests.push_back({t, Tensor::empty(t.shape, t.dtype, allocator)});
      allocator.reset_peak();
      const int64_t before = allocator.stats().allocated_bytes[all_pools].current;
      load_tensors(ckpt, requests, quiet(staging));
      CHECK(allocator.stats().allocated_bytes[all_pools].peak == before);  // contiguous: nothing more
      for (const LoadRequest& r : requests) check_values(r.destination.to(cpu_device), values.at(r.source.name), r.source.name);
    }
  }
}

TEST_CASE("conversion on the way to the GPU, tied storages staged once") {
  const Checkpoint ckpt = Checkpoint::open(fixture("loader/torch2.15/all_dtypes.pth"));
  for (const TensorInfo& t : ckpt.tensors()) {
    if (!is_floating(t.dtype)) continue;
    for (DType to : {DType::f32, DType::f16, DType::bf16}) {
      Tensor a = Tensor::empty(t.shape, to, gpu), b = Tensor::empty(t.shape, to, gpu);
      const LoadStats stats = load_tensors(ckpt, {{t, a}, {t, b}}, quiet(16));
      CHECK(stats.bytes_read == t.nbytes());
      const std::vector<double> want = ckpt.read(t).to(to).to_doubles();
      for (const Tensor& dst : {a, b}) {
        const std::vector<double> got = dst.to(cpu_device).to_doubles();
        for (std::size_t i = 0; i < got.size(); ++i)
          CHECK(((got[i] == want[i] && std::signbit(got[i]) == std::signbit(want[i])) || (std::isnan(got[i]) && std::isnan(want[i]))));
      }
    }
  }
}

TEST_CASE("a strided GPU destination costs one chunk, labelled, and leaves its neighbours alone") {
  AllocatorConfig config;
  config.trace = true;
  CachingAllocator allocator(make_cuda_backend(gpu), config);
  const std::string path = fixture("loader/torch2.15/views.pth");
  const Checkpoint ckpt = Checkpoint::open(path);
  const auto values = manifest_values(path);
  TensorInfo transposed;
  for (const TensorInfo& t : ckpt.tensors())
    if (t.name == "transposed") transposed = t;
  Tensor fused = Tensor::empty({4, 7}, DType::f32, allocator);
  fused.fill_(-99);
  Tensor dst = fused.slice(1, 2, 5);  // [4, 3], strides (7, 1): not contiguous
  const int64_t before = allocator.stats().allocated_bytes[all_pools].current;
  allocator.reset_peak();
  const std::size_t staging = 64;  // chunks of 16 bytes: several kernel launches
  load_tensors(ckpt, {{transposed, dst}}, quiet(staging));
  check_values(dst.contiguous().to(cpu_device), values.at("transposed"), "transposed");
  const std::vector<double> all = fused.to(cpu_device).to_doubles();
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c : {0, 1, 5, 6}) CHECK(all[static_cast<std::size_t>(r * 7 + c)] == -99);
  // One chunk (16 bytes, rounded up to 512) on top of the destinations, freed again.
  CHECK(allocator.stats().allocated_bytes[all_pools].peak == before + 512);
  CHECK(allocator.stats().allocated_bytes[all_pools].current == before);
  bool labelled = false;
  for (const TraceEvent& e : allocator.trace_events())
    if (e.action == TraceAction::alloc && label_text(e.label) == "load/transposed") labelled = true;
  CHECK(labelled);
}

TEST_CASE("512 MiB into the GPU: device peak equals the destinations, host memory stays bounded") {
  TempDir dir;
  const std::string path = path_in(dir, "big.pth");
  {
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (int i = 0; i < 32; ++i) {
      Tensor t = Tensor::empty({2048, 2048}, DType::f32);
      float* p = t.data<float>();
      for (int64_t k = 0; k < t.numel(); ++k) p[k] = static_cast<float>((k + i) % 1000);
      tensors.emplace_back(str("w", i), t);
    }
    save_state_dict(path, tensors);
    device_allocator(cpu_device).empty_cache();
  }
  const Checkpoint ckpt = Checkpoint::open(path);
  // The premise of the bf16 expectations below: exact integers fail there.
  REQUIRE(bf16_to_f32(f32_to_bf16(999.0f)) == 1000.0f);
  for (DType dtype : {DType::f32, DType::bf16}) {
    CachingAllocator allocator(make_cuda_backend(gpu));
    std::vector<LoadRequest> requests;
    for (const TensorInfo& t : ckpt.state_dict()) requests.push_back({t, Tensor::empty(t.shape, dtype, allocator)});
    const int64_t destinations = allocator.stats().allocated_bytes[all_pools].current;
    allocator.reset_peak();
    const std::size_t staging = 64 * MiB;
    ::malloc_trim(0);  // see test_loader_memory.cpp
    const HostMemory baseline = host_memory();
    HostMemorySampler sampler;
    const LoadStats stats = load_tensors(ckpt, requests, quiet(staging));
    const int64_t growth = static_cast<int64_t>(sampler.peak().anon_rss) - static_cast<int64_t>(baseline.anon_rss);
    MESSAGE(std::string(dtype_name(dtype)), ": ", stats.bytes_written, " bytes in ", stats.seconds, " s; anonymous RSS growth ", growth);
    CHECK(allocator.stats().allocated_bytes[all_pools].peak == destinations);
    CHECK(growth <= static_cast<int64_t>(staging + 32 * MiB));
    for (std::size_t i = 0; i < requests.size(); i += 7) {
      const std::vector<float> got = requests[i].destination.to(cpu_device).to(DType::f32).to_floats();
      for (std::size_t k = 0; k < got.size(); k += 4099) {
        // Integers up to 999 in bf16: 8 significant bits hold those below 256 exactly, larger
        // ones round to nearest even (999 -> 1000, 257 -> 256).
        const auto written = static_cast<float>((k + i) % 1000);
        const float expected = dtype == DType::bf16 ? bf16_to_f32(f32_to_bf16(written)) : written;
        if (got[k] != expected) FAIL_CHECK("tensor ", i, " element ", k, ": ", got[k], ", expected ", expected);
      }
    }
  }
}

TEST_CASE("the writer saves GPU tensors, tied storages once") {
  TempDir dir;
  Tensor w = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}).to(gpu);
  save_state_dict(path_in(dir, "gpu.pth"), {{"w", w}, {"wt", w.transpose(0, 1)}, {"row", w.select(0, 1)}});
  const Checkpoint ckpt = Checkpoint::open(path_in(dir, "gpu.pth"));
  REQUIRE(ckpt.tensors().size() == 3);
  CHECK(ckpt.tensors()[0].storage_key == ckpt.tensors()[1].storage_key);
  CHECK(ckpt.read(ckpt.tensors()[1]).to_doubles() == std::vector<double>{1, 4, 2, 5, 3, 6});
  CHECK(ckpt.read(ckpt.tensors()[2]).to_doubles() == std::vector<double>{4, 5, 6});
}
