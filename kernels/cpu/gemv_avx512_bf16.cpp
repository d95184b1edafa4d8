// The bf16 matrix-vector product of the avx512_bf16 level: vdpbf16ps multiplies 32 bf16 pairs
// and adds them to 16 f32 sums in one instruction. The activations stay f32: each row of x
// comes split into two bf16 halves (x = hi + lo to 16 significant bits, cpu/matmul.cpp), and
// the weights are multiplied by both; products of two bf16 are exact in f32, so the result is
// an f32 dot product of the bf16 weights with x to within 2^-17 of each element of x. The
// other kernels of the level are avx512's. Compiled with the avx512 flags plus -mavx512bf16.
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/gemv.h"

namespace pthrun::kernels::cpu {

namespace {

__m512i load_bf16(const uint16_t* p) { return _mm512_loadu_si512(p); }

__m512 dot(__m512 acc, __m512i w, __m512i x) { return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)x); }

// out[n, o] for NB rows of x from n0: four independent sums per row (hi and lo halves of two
// alternating 32-element blocks); the last I % 32 elements through masked loads, as zeros.
template <int NB>
void dot_rows_bf16(const GemvArgs& a, int64_t n0, int64_t o0, int64_t o1) {
  const int64_t I = a.I;
  const uint16_t* w = static_cast<const uint16_t*>(a.w);
  const uint16_t *hi[NB], *lo[NB];
  for (int n = 0; n < NB; ++n) hi[n] = a.x_hi + (n0 + n) * I, lo[n] = a.x_lo + (n0 + n) * I;
  const __mmask32 tail = static_cast<__mmask32>((uint64_t{1} << (I % 32)) - 1);
  for (int64_t o = o0; o < o1; ++o) {
    const uint16_t* row = w + o * I;
    __m512 acc[NB][4];
    for (int n = 0; n < NB; ++n)
      for (int k = 0; k < 4; ++k) acc[n][k] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= I; i += 64) {
      const __m512i w0 = load_bf16(row + i), w1 = load_bf16(row + i + 32);
      for (int n = 0; n < NB; ++n) {
        acc[n][0] = dot(acc[n][0], w0, load_bf16(hi[n] + i));
        acc[n][1] = dot(acc[n][1], w0, load_bf16(lo[n] + i));
        acc[n][2] = dot(acc[n][2], w1, load_bf16(hi[n] + i + 32));
        acc[n][3] = dot(acc[n][3], w1, load_bf16(lo[n] + i + 32));
      }
    }
    if (i + 32 <= I) {
      const __m512i w0 = load_bf16(row + i);
      for (int n = 0; n < NB; ++n) {
        acc[n][0] = dot(acc[n][0], w0, load_bf16(hi[n] + i));
        acc[n][1] = dot(acc[n][1], w0, load_bf16(lo[n] + i));
      }
      i += 32;
    }
    if (i < I) {
      const __m512i w0 = _mm512_maskz_loadu_epi16(tail, row + i);
      for (int n = 0; n < NB; ++n) {
        acc[n][2] = dot(acc[n][2], w0, _mm512_maskz_loadu_epi16(tail, hi[n] + i));
        acc[n][3] = dot(acc[n][3], w0, _mm512_maskz_loadu_epi16(tail, lo[n] + i));
      }
    }
    for (int n = 0; n < NB; ++n) {
      const __m512 s = _mm512_add_ps(_mm512_add_ps(acc[n][0], acc[n][1]), _mm512_add_ps(acc[n][2], acc[n][3]));
      a.out[(n0 + n) * a.O + o] = _mm512_reduce_add_ps(s) + (a.bias ? a.bias[o] : 0.0f);
    }
  }
}

void gemv_bf16_pairs(const GemvArgs& a, int64_t o0, int64_t o1) {
  int64_t n = 0;
  for (; n + 4 <= a.N; n += 4) dot_rows_bf16<4>(a, n, o0, o1);
  if (a.N - n == 3) dot_rows_bf16<3>(a, n, o0, o1);
  if (a.N - n == 2) dot_rows_bf16<2>(a, n, o0, o1);
  if (a.N - n == 1) dot_rows_bf16<1>(a, n, o0, o1);
}

GemvKernels make_table() {
  GemvKernels k = gemv_kernels_avx512();
  k.isa = CpuIsa::avx512_bf16;
  k.out_in[kGemvBf16] = gemv_bf16_pairs;
  k.bf16_pairs = true;
  return k;
}

}  // namespace

const GemvKernels& gemv_kernels_avx512_bf16() {
  static const GemvKernels table = make_table();
  return table;
}

}  // namespace pthrun::kernels::cpu
