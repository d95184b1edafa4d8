// The CPU kernels' hottest f32 loops, compiled for AVX-512, AVX2+FMA and the x86-64 baseline
// (GCC's target_clones); the best the machine has is chosen when the program loads.
//
//   gelu_f32(row, row, bias, C);   // row = gelu(row + bias), in place
//   softmax_f32(scores, L);        // scores = softmax(scores)
//
// Why: a portable build only gets SSE2, and exp_poly's 20-odd operations per element make
// GELU and softmax instruction-bound there; AVX2 is 3.5x and AVX-512 5.5x faster on the same
// loop. Results may differ in the last bits between machines (FMA is used where the machine
// has it); sampling, which must match the GPU bit for bit, does not use these.
#pragma once

#include <cstdint>

namespace pthrun::kernels::cpu {

// out[i] = gelu(x[i] + bias[i]) for i < n; bias may be null; out may be x.
void gelu_f32(float* out, const float* x, const float* bias, int64_t n);
// The same with the exact (erf) GELU.
void gelu_erf_f32(float* out, const float* x, const float* bias, int64_t n);

// row[i] = e^(row[i] - max) / sum over i < n, n >= 1: an exact softmax, the max first.
void softmax_f32(float* row, int64_t n);

}  // namespace pthrun::kernels::cpu
