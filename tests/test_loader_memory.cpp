// The memory guarantees of a load (issue section 7), on checkpoints written at test time
// (128 MiB and 512 MiB of float32, GPT-2-like shapes), loaded into CPU destinations:
//
// - peak allocated bytes during the load == the destinations' bytes, exactly: the loader
//   allocates nothing from the destinations' allocator (no full-size temporary);
// - host anonymous RSS grows by at most staging + 32 MiB, and not with the model's size.
//
// What is measured: the destinations are allocated and touched (zeroed) before the baseline
// is taken, so their own pages, which a load must fill anyway, are not counted; the mapped
// checkpoint's pages are file-backed (RssFile), not anonymous. What remains is exactly what a
// naive loader adds: a second copy of the weights in host memory, which must not exist.
// Before each baseline, malloc_trim(0) hands memory freed earlier back to the kernel: else a
// new allocation could reuse resident heap pages and grow nothing (the control below fails
// without it once earlier tests have freed a few hundred MiB).
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "loader/checkpoint.h"
#include "loader/pth_writer.h"
#include "loader/stream_loader.h"
#include "loader_test_util.h"
#include "runtime/caching_allocator.h"
#include "runtime/host_memory.h"
#include "runtime/memory_backend.h"

using namespace pthrun;
using namespace pthrun::test;

namespace {

constexpr std::size_t MiB = std::size_t(1) << 20;

// The value of element i of tensor t: distinct per tensor, exact in float32 and bfloat16.
float pattern(std::size_t t, int64_t i) { return static_cast<float>((i * 7 + static_cast<int64_t>(t) * 13) % 251 - 125); }

// About `mib` MiB of float32 in GPT-2-like tensors: [E, E] and [4E, E] matrices and [E] vectors,
// every one a multiple of 512 bytes so that the allocator's rounding does not blur the sum.
std::vector<std::pair<std::string, Shape>> shapes_for(std::size_t mib) {
  std::vector<std::pair<std::string, Shape>> out;
  const int64_t E = 768;
  std::size_t bytes = 0;
  for (int b = 0; bytes < mib * MiB; ++b) {
    const std::string p = "h." + std::to_string(b) + ".";
    for (auto [name, shape] : {std::pair<const char*, Shape>{"attn.weight", {3 * E, E}}, {"attn.bias", {3 * E}},
                               {"proj.weight", {E, E}}, {"fc.weight", {4 * E, E}}, {"fc.bias", {4 * E}},
                               {"out.weight", {E, 4 * E}}, {"ln.scale", {E}}}) {
      out.emplace_back(p + name, shape);
      bytes += static_cast<std::size_t>(shape_numel(shape)) * 4;
    }
  }
  return out;
}

// The checkpoint as one file, or as Hugging Face shards beside `path` (an index file naming
// "model-0000N-of-0000M.bin", each a torch.save zip of consecutive tensors).
void write_checkpoint(const std::string& path, std::size_t mib, int shards = 1) {
  // Written from tensors of an allocator of their own, released before anything is measured.
  CachingAllocator allocator(std::make_unique<HostBackend>());
  std::vector<std::pair<std::string, Tensor>> tensors;
  const auto shapes = shapes_for(mib);
  for (std::size_t t = 0; t < shapes.size(); ++t) {
    Tensor x = Tensor::empty(shapes[t].second, DType::f32, allocator);
    float* p = x.data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) p[i] = pattern(t, i);
    tensors.emplace_back(shapes[t].first, std::move(x));
  }
  if (shards == 1) return save_state_dict(path, tensors);
  std::string weight_map;
  const std::size_t per_shard = (tensors.size() + shards - 1) / shards;
  for (int s = 0; s < shards; ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05d-of-%05d.bin", s + 1, shards);
    const std::size_t begin = s * per_shard, end = std::min(tensors.size(), begin + per_shard);
    std::vector<std::pair<std::string, Tensor>> part(tensors.begin() + begin, tensors.begin() + end);
    save_state_dict((std::filesystem::path(path).parent_path() / name).string(), part);
    for (const auto& [tensor, _] : part) {
      if (!weight_map.empty()) weight_map += ", ";
      weight_map += "\"" + tensor + "\": \"" + name + "\"";
    }
  }
  std::ofstream(path) << "{\"metadata\": {}, \"weight_map\": {" << weight_map << "}}";
}

struct Measured {
  int64_t destination_bytes;
  int64_t peak_allocated;
  int64_t anon_growth;
};

Measured load_and_measure(const std::string& path, DType dtype, std::size_t staging) {
  const Checkpoint ckpt = Checkpoint::open(path);
  CachingAllocator allocator(std::make_unique<HostBackend>());
  std::vector<LoadRequest> requests;
  int64_t destination_bytes = 0;
  for (const TensorInfo& t : ckpt.state_dict()) {
    Tensor dst = Tensor::empty(t.shape, dtype, allocator);
    dst.zero_();
    destination_bytes += static_cast<int64_t>(dst.nbytes());
    requests.push_back({t, std::move(dst)});
  }
  LoadOptions options;
  options.staging_bytes = staging;
  allocator.reset_peak();
  ::malloc_trim(0);
  const HostMemory baseline = host_memory();
  Measured m{};
  {
    HostMemorySampler sampler;
    load_tensors(ckpt, requests, options);
    m.anon_growth = static_cast<int64_t>(sampler.peak().anon_rss) - static_cast<int64_t>(baseline.anon_rss);
  }
  m.destination_bytes = destination_bytes;
  m.peak_allocated = allocator.stats().allocated_bytes[all_pools].peak;
  CHECK(allocator.stats().allocated_bytes[all_pools].current == destination_bytes);
  // Every value arrived (in the destination dtype: the pattern is exact in bfloat16 too).
  for (std::size_t t = 0; t < requests.size(); ++t) {
    const Tensor& dst = requests[t].destination;
    const Tensor check = dst.dtype() == DType::f32 ? dst : dst.to(DType::f32);
    const float* p = check.data<float>();
    int64_t bad = 0;
    for (int64_t i = 0; i < check.numel(); ++i) bad += p[i] != pattern(t, i);
    CHECK_MESSAGE(bad == 0, requests[t].source.name);
  }
  return m;
}

}  // namespace

TEST_CASE("a load allocates nothing beyond its destinations and no second host copy") {
  TempDir dir;
  const std::size_t staging = 64 * MiB;
  std::vector<Measured> f32;
  for (std::size_t mib : {128, 512}) {
    const std::string path = path_in(dir, "model_" + std::to_string(mib) + ".pth");
    write_checkpoint(path, mib);
    const Measured m = load_and_measure(path, DType::f32, staging);
    MESSAGE(mib, " MiB checkpoint: destinations ", m.destination_bytes, " B, peak allocated ", m.peak_allocated,
            " B, anonymous RSS growth ", m.anon_growth, " B");
    CHECK(m.destination_bytes >= static_cast<int64_t>(mib * MiB));
    CHECK(m.peak_allocated == m.destination_bytes);
    CHECK(m.anon_growth <= static_cast<int64_t>(staging + 32 * MiB));
    f32.push_back(m);
    if (mib == 128) {  // converting to bfloat16 on the way needs no more memory either
      const Measured bf16 = load_and_measure(path, DType::bf16, staging);
      CHECK(bf16.peak_allocated == bf16.destination_bytes);
      CHECK(bf16.anon_growth <= static_cast<int64_t>(staging + 32 * MiB));
    }
    std::filesystem::remove(path);
  }
  // The measure sees a second copy when there is one: reading the file into memory, as a
  // naive loader does, grows anonymous memory by the file's size.
  {
    const std::string path = path_in(dir, "control.pth");
    write_checkpoint(path, 128);
    ::malloc_trim(0);
    const HostMemory baseline = host_memory();
    // One buffer of the file's size, every page written, then the file read into it: what
    // the pages cost does not depend on how a string happens to grow.
    std::vector<char> copy(std::filesystem::file_size(path), 1);
    std::ifstream(path, std::ios::binary).read(copy.data(), static_cast<std::streamsize>(copy.size()));
    const int64_t growth = static_cast<int64_t>(host_memory().anon_rss) - static_cast<int64_t>(baseline.anon_rss);
    CAPTURE(growth);
    CHECK(growth >= static_cast<int64_t>(copy.size() * 9 / 10));
  }
  // Four times the model, not more memory: the growth is the same within 16 MiB.
  CHECK(f32[1].anon_growth <= f32[0].anon_growth + static_cast<int64_t>(16 * MiB));
}

TEST_CASE("a sharded checkpoint loads shard by shard: no second host copy either") {
  TempDir dir;
  const std::size_t staging = 64 * MiB;
  const std::string index = path_in(dir, "model.bin.index.json");
  write_checkpoint(index, 256, /*shards=*/4);
  const Measured m = load_and_measure(index, DType::f32, staging);
  MESSAGE("256 MiB in 4 shards: destinations ", m.destination_bytes, " B, peak allocated ", m.peak_allocated,
          " B, anonymous RSS growth ", m.anon_growth, " B");
  CHECK(m.destination_bytes >= static_cast<int64_t>(256 * MiB));
  CHECK(m.peak_allocated == m.destination_bytes);
  CHECK(m.anon_growth <= static_cast<int64_t>(staging + 32 * MiB));
}
