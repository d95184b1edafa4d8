// Helpers of the CPU kernels: splitting work over OpenMP threads, and the f32 math they share.
//
//   parallel_rows(rows, row_cost, [&](int64_t begin, int64_t end) { ... });
//
// The CPU backend runs these kernels for real inference, so inner loops are written for the
// vectoriser (contiguous, no calls, `omp simd` reductions where the order of a sum may change).
#pragma once

#include <cmath>

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>

#include "kernels/exp_poly.h"

namespace pthrun::kernels::cpu {

// Work below this many element operations stays on the calling thread: a parallel region
// costs microseconds on an idle machine, and a scheduler time slice (milliseconds) when
// another process holds the core a thread would need.
inline constexpr int64_t kParallelGrain = int64_t{1} << 20;
// Chunks per thread: threads take chunks as they finish the last one, so that a thread slowed
// down by another process leaves its remaining chunks to the others.
inline constexpr int64_t kChunksPerThread = 4;

// Calls f(begin, end) on `chunks` contiguous chunks covering [0, n), handed out to `threads`
// threads as they become free (on the calling thread alone for one thread, or inside a
// parallel region).
template <typename F>
void run_chunks(int64_t n, int64_t threads, int64_t chunks, F&& f) {
  if (threads <= 1 || chunks <= 1 || omp_in_parallel()) {
    if (n > 0) f(int64_t{0}, n);
    return;
  }
#pragma omp parallel for num_threads(static_cast <int>(threads)) schedule(dynamic, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    if (begin < end) f(begin, end);
  }
}

// run_chunks for work that asks for its next chunk's data while it does this one: a thread
// claims the chunk it takes next as it starts one, and calls f(begin, end, next_begin, next_end,
// asked), the next chunk empty when none is left, `asked` true when the thread's call before
// was told of this chunk as its next. A thread slowed down by another process still leaves
// all but one of its chunks to the others.
template <typename F>
void run_chunks_ahead(int64_t n, int64_t threads, int64_t chunks, F&& f) {
  if (threads <= 1 || chunks <= 1 || omp_in_parallel()) {
    if (n > 0) f(int64_t{0}, n, n, n, false);
    return;
  }
  auto begin_of = [&](int64_t c) { return c < chunks ? n * c / chunks : n; };
  std::atomic<int64_t> claimed{0};
#pragma omp parallel num_threads(static_cast <int>(threads))
  {
    bool asked = false;
    for (int64_t c = claimed.fetch_add(1, std::memory_order_relaxed); c < chunks;) {
      const int64_t next = claimed.fetch_add(1, std::memory_order_relaxed);
      const bool work = begin_of(c) < begin_of(c + 1);
      if (work) f(begin_of(c), begin_of(c + 1), begin_of(next), begin_of(next + 1), asked);
      asked = work;
      c = next;
    }
  }
}

// Calls f(begin, end) on contiguous chunks covering [0, n), kChunksPerThread per thread, over
// at most `threads` threads (the caller has judged how many are worth it).
template <typename F>
void parallel_chunks(int64_t n, int64_t threads, F&& f) {
  threads = std::min<int64_t>({threads, n, omp_get_max_threads()});
  run_chunks(n, threads, std::min<int64_t>(n, threads * kChunksPerThread), f);
}

// parallel_chunks through run_chunks_ahead.
template <typename F>
void parallel_chunks_ahead(int64_t n, int64_t threads, F&& f) {
  threads = std::min<int64_t>({threads, n, omp_get_max_threads()});
  run_chunks_ahead(n, threads, std::min<int64_t>(n, threads * kChunksPerThread), f);
}

// Calls f(begin, end) on contiguous chunks covering [0, n), handed out to up to
// omp_get_max_threads() threads as they become free; `cost` is the work per item, which
// decides whether threads are worth it and how small a chunk may be.
template <typename F>
void parallel_rows(int64_t n, int64_t cost, F&& f) {
  const int64_t work = n * std::max<int64_t>(cost, 1);
  const int64_t threads = std::min<int64_t>({omp_get_max_threads(), n, work / kParallelGrain + 1});
  run_chunks(n, threads, std::min<int64_t>({n, threads * kChunksPerThread, work / kParallelGrain + 1}), f);
}

// Calls f(i) for every i in [0, n), items handed out one at a time: for items of unequal
// cost (causal attention rows).
template <typename F>
void parallel_items(int64_t n, F&& f) {
  if (omp_get_max_threads() <= 1 || omp_in_parallel() || n <= 1) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < n; ++i) f(i);
}

// OpenBLAS runs on one thread: the CPU kernels split their products over OpenMP threads
// themselves, each calling BLAS on its own part (see cpu/matmul.cpp for why).
inline void use_single_threaded_blas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// GPT-2's GELU, 0.5 x (1 + tanh(u)) with u = sqrt(2/pi) (x + 0.044715 x^3), written as
// x / (1 + e^(-2u)), the same function: one exp instead of a tanh, and no cancellation in
// 1 + tanh(u) for negative x.
inline float gelu(float x) {
  const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return x / (1.0f + exp_poly(-2.0f * u));
}

// The exact GELU, 0.5 x (1 + erf(x / sqrt 2)), as PyTorch's nn.GELU() computes it in f32.
inline float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f)); }

}  // namespace pthrun::kernels::cpu
