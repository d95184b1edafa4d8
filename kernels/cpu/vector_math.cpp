#include "kernels/cpu/vector_math.h"

#include <limits>

#include "kernels/cpu/cpu_util.h"
#include "kernels/exp_poly.h"

// Function multiversioning needs GCC on x86-64 (with glibc's ifunc); elsewhere the loops are
// compiled once, for whatever the build targets.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define PTHRUN_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PTHRUN_CPU_CLONES
#endif

namespace pthrun::kernels::cpu {

PTHRUN_CPU_CLONES void gelu_f32(float* out, const float* x, const float* bias, int64_t n) {
  if (bias) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = gelu(x[i] + bias[i]);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = gelu(x[i]);
  }
}

// std::erf is a libm call: not vectorised, but the MLP's products dwarf it.
void gelu_erf_f32(float* out, const float* x, const float* bias, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gelu_erf(x[i] + (bias ? bias[i] : 0.0f));
}

PTHRUN_CPU_CLONES void softmax_f32(float* row, int64_t n) {
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j) max = row[j] > max ? row[j] : max;
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) {
    row[j] = exp_poly(row[j] - max);
    sum += row[j];
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) row[j] *= inv;
}

}  // namespace pthrun::kernels::cpu
