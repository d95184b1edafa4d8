// pthrun stream-bench: how fast load_tensors streams a checkpoint from the page cache into
// preallocated destinations, against a plain sequential read() of the same file.
//
// Each row is the median of --repeat runs after one warm-up run (which also brings the file
// into the page cache). --verify adds a load that checks every record's CRC-32 as it copies
// (LoadOptions::verify), and the CRC-32 of the whole mapped file by libdeflate and by zlib on
// one core, the two libraries the verification could use. Destinations are allocated and touched once, before timing, from an
// allocator of their own, so "peak alloc" is exactly what the load allocated on top of them
// plus them, and "anon growth" is the host anonymous memory the load itself added.
//
//   pthrun stream-bench model.pth --generate     # first writes a ~1.5 GB GPT-2-medium-shaped file
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <cstdio>
#include <memory>
#include <vector>

#include "loader/checkpoint.h"
#include "loader/crc32.h"
#include "loader/mapped_file.h"
#include "loader/pth_writer.h"
#include "loader/stream_loader.h"
#include "model/config.h"
#include "runtime/caching_allocator.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/host_memory.h"
#include "runtime/memory_backend.h"
#include "tools/cli.h"
#include "tools/model_options.h"

namespace pthrun::cli {

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// GPT-2 medium in the book's naming (E 1024, 24 layers, context 1024, qkv bias), float32
// with pseudo-random values: about 1.6 GB.
void generate(const std::string& path) {
  const Gpt2Config medium = preset_config(*find_preset("gpt2-medium"));
  const int64_t V = medium.vocab_size, C = medium.context, E = medium.channels, L = medium.layers;
  std::vector<std::pair<std::string, Tensor>> tensors;
  uint64_t state = 0x9e3779b97f4a7c15ull;
  auto add = [&](const std::string& name, const Shape& shape) {
    Tensor t = Tensor::empty(shape, DType::f32);
    float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      state ^= state << 13, state ^= state >> 7, state ^= state << 17;
      p[i] = static_cast<float>(static_cast<int64_t>(state >> 40) - (1 << 23)) * 1e-8f;
    }
    tensors.emplace_back(name, std::move(t));
  };
  add("tok_emb.weight", {V, E});
  add("pos_emb.weight", {C, E});
  for (int64_t b = 0; b < L; ++b) {
    const std::string p = "trf_blocks." + std::to_string(b) + ".";
    for (const char* w : {"att.W_query", "att.W_key", "att.W_value"}) {
      add(p + w + ".weight", {E, E});
      add(p + w + ".bias", {E});
    }
    add(p + "att.out_proj.weight", {E, E});
    add(p + "att.out_proj.bias", {E});
    add(p + "ff.layers.0.weight", {4 * E, E});
    add(p + "ff.layers.0.bias", {4 * E});
    add(p + "ff.layers.2.weight", {E, 4 * E});
    add(p + "ff.layers.2.bias", {E});
    for (const char* n : {"norm1", "norm2"}) {
      add(p + n + ".scale", {E});
      add(p + n + ".shift", {E});
    }
  }
  add("final_norm.scale", {E});
  add("final_norm.shift", {E});
  add("out_head.weight", {V, E});
  save_state_dict(path, tensors);
}

// Seconds to read the whole file front to back with read() into one 64 MiB buffer.
double plain_read(const std::string& path, std::vector<char>& buffer) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  PTHRUN_CHECK(fd >= 0, "cannot open ", path);
  const auto start = Clock::now();
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n <= 0) break;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  return seconds;
}

struct Row {
  std::string what;
  double seconds = 0;
  int64_t peak_alloc = -1;
  int64_t dest_bytes = -1;
  int64_t anon_growth = -1;
};

// Each run opens the checkpoint afresh (a new mapping, whose pages fault in again, as in a
// real load) and streams it into the same destinations; the time covers both. With `verify`
// a second row checks every record's CRC-32; its runs alternate with the first row's, so that
// a busy machine slows both alike.
std::vector<Row> bench_load(const std::string& path, const std::string& key, Device device, std::optional<DType> dtype,
                            std::size_t staging, int repeat, bool verify) {
  std::unique_ptr<MemoryBackend> backend =
      device.is_cpu() ? std::unique_ptr<MemoryBackend>(std::make_unique<HostBackend>()) : make_cuda_backend(device);
  CachingAllocator allocator(std::move(backend));
  std::vector<Tensor> destinations;
  for (const TensorInfo& t : Checkpoint::open(path).state_dict(key)) {
    Tensor dst = Tensor::empty(t.shape, dtype && is_floating(t.dtype) ? *dtype : t.dtype, allocator);
    dst.zero_();  // touched, so that page faults of the destinations are not timed
    destinations.push_back(std::move(dst));
  }
  std::vector<Row> rows(verify ? 2 : 1);
  std::vector<std::vector<double>> times(rows.size());
  for (std::size_t v = 0; v < rows.size(); ++v) {
    rows[v].what = str("open + load_tensors -> ", device.to_string(), dtype ? str(" as ", dtype_name(*dtype)) : "",
                       v ? ", verified" : "");
    rows[v].dest_bytes = allocator.stats().allocated_bytes[all_pools].current;
  }
  for (int i = 0; i <= repeat; ++i) {
    for (std::size_t v = 0; v < rows.size(); ++v) {
      LoadOptions options;
      options.staging_bytes = staging;
      options.verify = v == 1;
      allocator.reset_peak();
      ::malloc_trim(0);  // freed heap pages back to the kernel, so that reusing them shows as growth
      const HostMemory before = host_memory();
      HostMemorySampler sampler;
      const auto start = Clock::now();
      const Checkpoint ckpt = Checkpoint::open(path);
      const std::vector<TensorInfo> infos = ckpt.state_dict(key);
      std::vector<LoadRequest> requests;
      for (std::size_t k = 0; k < infos.size(); ++k) requests.push_back({infos[k], destinations.at(k)});
      load_tensors(ckpt, requests, options);
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      const int64_t growth = static_cast<int64_t>(sampler.peak().anon_rss) - static_cast<int64_t>(before.anon_rss);
      if (i == 0) continue;  // warm-up
      times[v].push_back(seconds);
      rows[v].peak_alloc = std::max(rows[v].peak_alloc, allocator.stats().allocated_bytes[all_pools].peak);
      rows[v].anon_growth = std::max(rows[v].anon_growth, growth);
    }
  }
  for (std::size_t v = 0; v < rows.size(); ++v) rows[v].seconds = median(times[v]);
  return rows;
}

// The CRC-32 of the whole mapped file (pages warm) on one core.
Row bench_crc(const std::string& path, const char* library, uint32_t (*crc)(uint32_t, const void*, std::size_t),
              int repeat) {
  const auto file = MappedFile::open(path);
  std::vector<double> times;
  for (int i = 0; i <= repeat; ++i) {
    const auto start = Clock::now();
    (void)crc(0, file->data(), static_cast<std::size_t>(file->size()));
    if (i > 0) times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  return {str("CRC-32 of the mapped file, ", library), median(times)};
}

struct StreamBenchArgs {
  std::string checkpoint, device = "all", key, dtype;
  int64_t repeat = 5, staging_mb = 64;
  bool generate = false, verify = false;
};

int run_stream_bench(const StreamBenchArgs& args) {
  const std::string& path = args.checkpoint;
  const int repeat = static_cast<int>(args.repeat);
  const std::size_t staging = static_cast<std::size_t>(args.staging_mb) << 20;
  std::optional<DType> dtype;
  if (!args.dtype.empty()) dtype = parse_dtype(args.dtype);
  std::vector<Device> devices;
  const std::string& which = args.device;
  if (which == "all") {
    devices.push_back(cpu_device);
    if (cuda_device_count() > 0) devices.push_back(cuda_device(0));
  } else {
    devices.push_back(parse_device_option(which));
  }
  if (args.generate) {
    std::printf("writing %s (GPT-2 medium shapes, float32)...\n", path.c_str());
    generate(path);
  }

  const std::string& key = args.key;
  const std::size_t tensors = Checkpoint::open(path).state_dict(key).size();
  std::vector<char> buffer(std::size_t(64) << 20);
  plain_read(path, buffer);  // warm-up: the page cache now holds the file
  std::vector<double> read_times;
  for (int i = 0; i < repeat; ++i) read_times.push_back(plain_read(path, buffer));
  const auto file_bytes = static_cast<double>(std::filesystem::file_size(path));

  std::vector<Row> rows{{"read() into a 64 MiB buffer", median(read_times)}};
  const bool verify = args.verify;
  for (Device device : devices)
    for (Row& row : bench_load(path, key, device, dtype, staging, repeat, verify)) rows.push_back(std::move(row));
  if (verify) {
    rows.push_back(bench_crc(path, "libdeflate", crc32_update, repeat));
    rows.push_back(bench_crc(path, "zlib", crc32_zlib, repeat));
  }

  std::printf("%s: %s, %zu tensors, page cache warm, median of %d runs, staging %s\n\n", path.c_str(),
              format_bytes(file_bytes).c_str(), tensors, repeat, format_bytes(static_cast<double>(staging)).c_str());
  std::printf("%-40s %9s %8s %8s %14s %14s %12s\n", "method", "seconds", "GB/s", "vs read", "peak alloc",
              "destinations", "anon growth");
  const double base = rows.front().seconds;
  for (const Row& r : rows) {
    auto bytes = [](int64_t b) { return b < 0 ? std::string("-") : format_bytes(static_cast<double>(b)); };
    std::printf("%-40s %9.3f %8.2f %7.2fx %14s %14s %12s\n", r.what.c_str(), r.seconds, file_bytes / r.seconds * 1e-9,
                base / r.seconds, bytes(r.peak_alloc).c_str(), bytes(r.dest_bytes).c_str(), bytes(r.anon_growth).c_str());
  }
  return 0;
}

}  // namespace

extern const Command stream_bench_command = {
    "stream-bench", "Time loading a checkpoint into preallocated buffers against a plain read()",
    [](CLI::App& app) {
      auto args = std::make_shared<StreamBenchArgs>();
      app.add_option("CKPT", args->checkpoint, "the checkpoint")->required();
      app.add_option("--device", args->device, "cpu, cuda, cuda:N or all (default: all present)")->type_name("D");
      app.add_option("--repeat", args->repeat, "timed runs per row, after one warm-up (default 5)")
          ->type_name("N")
          ->check(integer_in(1, 1000));
      app.add_option("--key", args->key, "load the dict of tensors at this key")->type_name("K");
      app.add_option("--dtype", args->dtype, "destinations of this float dtype (converted while loading)")
          ->type_name("T")
          ->check(one_of({"f32", "bf16", "f16", "f64"}));
      app.add_option("--staging-mb", args->staging_mb, "pinned staging ring for GPU loads, in MiB (default 64)")
          ->type_name("MB")
          ->check(integer_in(1, 1 << 16));
      app.add_flag("--generate", args->generate, "first write CKPT: GPT-2 medium shapes, float32, about 1.6 GB");
      app.add_flag("--verify", args->verify,
                   "also load checking every record's CRC-32, and time the CRC of the file alone");
      return [args] { return run_stream_bench(*args); };
    },
    "GB/s is the checkpoint file's size over the median time. 'peak alloc' is the peak of the\n"
    "destinations' allocator during the load and 'destinations' what they hold: equal when the\n"
    "load allocates nothing. 'anon growth' is the host anonymous memory (RssAnon) the load\n"
    "added at its peak, sampled every millisecond."};

}  // namespace pthrun::cli
