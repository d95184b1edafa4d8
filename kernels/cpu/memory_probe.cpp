// The read-bandwidth probe (see kernels/memory_probe.h). The sum is of 64-bit integers: one
// cycle per vector add keeps a core ahead of its memory even with SSE2, whatever the level.
#include "kernels/memory_probe.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "runtime/error.h"
#include "runtime/memory_backend.h"

namespace pthrun::kernels {

namespace {

uint64_t sum_words(const uint64_t* p, int64_t n) {
  uint64_t sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += p[i];
  return sum;
}

}  // namespace

double cpu_read_bandwidth(int64_t buffer_bytes, int passes) {
  PTHRUN_CHECK(buffer_bytes >= 8 && passes >= 1, "cpu_read_bandwidth: ", buffer_bytes, " bytes, ", passes, " passes");
  const int64_t n = buffer_bytes / 8;
  // Memory as the weights get it (on huge pages where the kernel gives them, see
  // runtime/host_backend.cpp): the floor is what the machine reads, not what 4 KiB pages allow.
  HostBackend host;
  const auto bytes = static_cast<std::size_t>(n * 8);
  std::unique_ptr<uint64_t, std::function<void(uint64_t*)>> memory(
      static_cast<uint64_t*>(host.allocate(bytes)), [&](uint64_t* p) { host.deallocate(p, bytes); });
  PTHRUN_CHECK(memory != nullptr, "cpu_read_bandwidth: cannot allocate ", bytes, " bytes");
  uint64_t* buffer = memory.get();
  // Each thread touches the part it will read (first touch places the pages near it).
  const int threads = omp_get_max_threads();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) buffer[i] = static_cast<uint64_t>(i);
  std::vector<double> rates;
  volatile uint64_t sink = 0;
  for (int pass = 0; pass < passes; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    uint64_t total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      const int64_t t = omp_get_thread_num(), count = omp_get_num_threads();
      const int64_t begin = n * t / count, end = n * (t + 1) / count;
      total += sum_words(buffer + begin, end - begin);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    sink = sink + total;
    rates.push_back(static_cast<double>(n * 8) / seconds);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace pthrun::kernels
