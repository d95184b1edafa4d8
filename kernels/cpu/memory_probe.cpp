// The read-bandwidth probe (see kernels/memory_probe.h). The sum is of 64-bit integers: one
// cycle per vector add keeps a core ahead of its memory even with SSE2, whatever the level.
#include "kernels/memory_probe.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "runtime/error.h"

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
  std::vector<uint64_t> buffer(static_cast<std::size_t>(n));
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
      total += sum_words(buffer.data() + begin, end - begin);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    sink = sink + total;
    rates.push_back(static_cast<double>(n * 8) / seconds);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace pthrun::kernels
