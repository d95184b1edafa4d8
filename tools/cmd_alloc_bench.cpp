// pthrun alloc-bench: latency of an alloc+free pair, caching allocator against no caching.
//
// Each pair is timed on its own with steady_clock and the clock's own cost (the median of an
// empty timed region) is subtracted; the table gives the median and the 99th percentile. The
// caching rows measure cache hits: the block is warmed up before timing starts.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "runtime/caching_allocator.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/json.h"
#include "runtime/memory_backend.h"
#include "tools/cli.h"
#include "tools/model_options.h"

namespace pthrun::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct Result {
  std::string device, mode;
  std::size_t size;
  double median_ns, p99_ns;
  int64_t pairs;
};

double percentile(std::vector<double>& samples, double q) {
  std::size_t k = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1));
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(k), samples.end());
  return samples[k];
}

double clock_overhead_ns() {
  std::vector<double> samples(20000);
  for (double& s : samples) {
    auto t0 = Clock::now();
    auto t1 = Clock::now();
    s = std::chrono::duration<double, std::nano>(t1 - t0).count();
  }
  return percentile(samples, 0.5);
}

Result measure(Allocator& allocator, std::size_t size, int64_t max_pairs, double overhead) {
  { Allocation warm = allocator.allocate(size); }
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(max_pairs));
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  for (int64_t i = 0; i < max_pairs && (i < 100 || Clock::now() < deadline); ++i) {
    auto t0 = Clock::now();
    { Allocation a = allocator.allocate(size); }
    auto t1 = Clock::now();
    samples.push_back(std::max(0.0, std::chrono::duration<double, std::nano>(t1 - t0).count() - overhead));
  }
  Result r{allocator.device().to_string(), allocator.mode(), size, 0, 0, static_cast<int64_t>(samples.size())};
  r.p99_ns = percentile(samples, 0.99);
  r.median_ns = percentile(samples, 0.5);
  return r;
}

std::unique_ptr<MemoryBackend> backend_for(Device device) {
  if (device.is_cpu()) return std::make_unique<HostBackend>();
  return make_cuda_backend(device);
}

struct AllocBenchArgs {
  std::string device = "all";
  int64_t pairs = 200000;
  bool json = false;
};

int run_alloc_bench(const AllocBenchArgs& args) {
  const int64_t pairs = args.pairs;
  const std::string& which = args.device;
  std::vector<Device> devices;
  if (which == "all") {
    devices.push_back(cpu_device);
    if (cuda_device_count() > 0) devices.push_back(cuda_device(0));
  } else {
    devices.push_back(parse_device_option(which));
  }
  const std::size_t sizes[] = {512, 64 << 10, 4 << 20, 64 << 20};
  const double overhead = clock_overhead_ns();
  std::vector<Result> results;
  for (Device device : devices) {
    for (AllocatorMode mode : {AllocatorMode::caching, AllocatorMode::nocache}) {
      AllocatorConfig config;
      config.mode = mode;
      CachingAllocator allocator(backend_for(device), config);
      for (std::size_t size : sizes) results.push_back(measure(allocator, size, pairs, overhead));
    }
  }

  if (args.json) {
    JsonWriter out;
    out.begin_object().key("clock_overhead_ns").value(overhead).key("results").begin_array();
    for (const Result& r : results)
      out.begin_object().key("device").value(r.device).key("mode").value(r.mode).key("size").value(
          static_cast<uint64_t>(r.size)).key("median_ns").value(r.median_ns).key("p99_ns").value(r.p99_ns)
          .key("pairs").value(r.pairs).end_object();
    out.end_array().end_object();
    std::printf("%s\n", out.text().c_str());
    return 0;
  }
  std::printf("alloc+free pair latency (ns per pair, clock overhead of %.0f ns subtracted)\n\n", overhead);
  std::printf("%-7s %-10s %10s %12s %12s %14s %10s\n", "device", "mode", "size", "median ns", "p99 ns",
              "vs caching", "pairs");
  for (const Result& r : results) {
    const Result* base = nullptr;
    for (const Result& c : results)
      if (c.device == r.device && c.size == r.size && c.mode == "caching") base = &c;
    std::printf("%-7s %-10s %10s %12.0f %12.0f %13.1fx %10lld\n", r.device.c_str(), r.mode.c_str(),
                format_bytes(static_cast<double>(r.size)).c_str(), r.median_ns, r.p99_ns,
                base && base->median_ns > 0 ? r.median_ns / base->median_ns : 1.0,
                static_cast<long long>(r.pairs));
  }
  return 0;
}

}  // namespace

extern const Command alloc_bench_command = {
    "alloc-bench", "Time alloc+free pairs: the caching allocator against no caching", [](CLI::App& app) {
      auto args = std::make_shared<AllocBenchArgs>();
      app.add_option("--device", args->device, "cpu, cuda, cuda:N or all (default: all present)")->type_name("D");
      app.add_option("--pairs", args->pairs, "pairs timed per row, at most (default 200000; each row stops after 2 s)")
          ->type_name("N")
          ->check(integer_in(100, 100000000));
      app.add_flag("--json", args->json, "print JSON instead of a table");
      return [args] { return run_alloc_bench(*args); };
    }};

}  // namespace pthrun::cli
