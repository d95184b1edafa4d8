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

#include "kernels/cpu/prefetch_impl.h"

// Held in a register: left to itself, GCC folds a load into each dot product that uses it,
// loading it R times.
__m512i in_register(__m512i v) {
  asm("" : "+v"(v));
  return v;
}

// out[n, o] for NB rows of x from n0 and R weight rows at a time from o0 (the last few one
// at a time): four independent sums per pair of rows (hi and lo halves of two alternating
// 32-element blocks); the last I % 32 elements through masked loads, as zeros. Every pair is
// summed by the same operations in the same order whatever R and NB. `ahead` takes a step
// before each 64 inputs of each tile (its copy in registers meanwhile).
template <int R, int NB>
void dot_rows_bf16(const GemvArgs& a, int64_t n0, int64_t o0, int64_t o1, Prefetch& ahead) {
  const int64_t I = a.I;
  const uint16_t* w = static_cast<const uint16_t*>(a.w);
  const uint16_t *hi[NB], *lo[NB];
  for (int n = 0; n < NB; ++n) hi[n] = a.x_hi + (n0 + n) * I, lo[n] = a.x_lo + (n0 + n) * I;
  const __mmask32 tail = static_cast<__mmask32>((uint64_t{1} << (I % 32)) - 1);
  Prefetch prefetch = ahead;
  int64_t o = o0;
  for (; o + R <= o1; o += R) {
    const uint16_t* row[R];
    for (int r = 0; r < R; ++r) row[r] = w + (o + r) * I;
    __m512 acc[R][NB][4];
    for (int r = 0; r < R; ++r)
      for (int n = 0; n < NB; ++n)
        for (int k = 0; k < 4; ++k) acc[r][n][k] = _mm512_setzero_ps();
    // acc[r][n][k0], [k0 + 1] += row r's 32 weights at i times row n's halves of x.
    auto dot_32 = [&](int64_t i, int k0, const __m512i* wv) {
      for (int n = 0; n < NB; ++n) {
        const __m512i h = in_register(load_bf16(hi[n] + i)), l = in_register(load_bf16(lo[n] + i));
        for (int r = 0; r < R; ++r) {
          acc[r][n][k0] = dot(acc[r][n][k0], wv[r], h);
          acc[r][n][k0 + 1] = dot(acc[r][n][k0 + 1], wv[r], l);
        }
      }
    };
    int64_t i = 0;
    for (; i + 64 <= I; i += 64) {
      prefetch.step();
      __m512i w0[R], w1[R];
      for (int r = 0; r < R; ++r) w0[r] = load_bf16(row[r] + i), w1[r] = load_bf16(row[r] + i + 32);
      dot_32(i, 0, w0);
      dot_32(i + 32, 2, w1);
    }
    if (i + 32 <= I) {
      __m512i w0[R];
      for (int r = 0; r < R; ++r) w0[r] = load_bf16(row[r] + i);
      dot_32(i, 0, w0);
      i += 32;
    }
    if (i < I) {
      for (int r = 0; r < R; ++r) {
        const __m512i w0 = _mm512_maskz_loadu_epi16(tail, row[r] + i);
        for (int n = 0; n < NB; ++n) {
          acc[r][n][2] = dot(acc[r][n][2], w0, _mm512_maskz_loadu_epi16(tail, hi[n] + i));
          acc[r][n][3] = dot(acc[r][n][3], w0, _mm512_maskz_loadu_epi16(tail, lo[n] + i));
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int n = 0; n < NB; ++n) {
        const __m512 s =
            _mm512_add_ps(_mm512_add_ps(acc[r][n][0], acc[r][n][1]), _mm512_add_ps(acc[r][n][2], acc[r][n][3]));
        a.out[(n0 + n) * a.O + o + r] = _mm512_reduce_add_ps(s) + (a.bias ? a.bias[o + r] : 0.0f);
      }
  }
  ahead = prefetch;
  if constexpr (R > 1)
    if (o < o1) dot_rows_bf16<1, NB>(a, n0, o, o1, ahead);
}

// The rows of x from n on, NB at most at a time: the last NB - 1 or fewer in one smaller group.
template <int R, int NB>
void dot_rest_of_x(const GemvArgs& a, int64_t n, int64_t o0, int64_t o1, Prefetch& ahead) {
  if constexpr (NB > 0) {
    if (a.N - n >= NB) return dot_rows_bf16<R, NB>(a, n, o0, o1, ahead);
    return dot_rest_of_x<R, NB - 1>(a, n, o0, o1, ahead);
  }
}

// Weight rows [o0, o1) against every row of x, R weight rows and NB rows of x at a time.
template <int R, int NB>
void dot_rows_of_x(const GemvArgs& a, int64_t o0, int64_t o1, Prefetch& ahead) {
  int64_t n = 0;
  for (; n + NB <= a.N; n += NB) dot_rows_bf16<R, NB>(a, n, o0, o1, ahead);
  if (n < a.N) dot_rest_of_x<R, NB - 1>(a, n, o0, o1, ahead);
}

// One row of x streams the weights from memory, one weight row at a time. More rows would
// each read every weight from memory again (they did, 4 rows at a time), so, as gemv_out_in
// does (cpu/gemv_impl.h), the weight rows come in blocks that stay in L2 while every row of x
// meets them, the first block read in on its own and each next one prefetched a share every
// 64 inputs of every tile while this one computes; and the tiles take kTileRows weight rows
// and kTileXRows rows of x, their 24 sums in registers, so that each loaded vector serves more
// dot products. A 16-row product of gpt2-small's head (kernel-bench --weights bf16 --batch
// 16): 7.0-7.2 ms 4 rows of x at a time from memory, 5.6-5.7 in blocks, 3.0-3.1 in blocks of
// 3 x 2 tiles (2 x 3: 3.5-4.5, 2 x 2: 4.7; its fc2 0.61, 0.31, 0.38-0.41, 0.39 ms). `pthrun
// generate --dtype bf16` of 2, 3 and 4 prompts, decode step: 6.7-6.9 -> 6.3, 10.7-10.8 ->
// 7.2-7.9, 10.5-10.6 -> 7.9 ms.
constexpr int kTileRows = 3, kTileXRows = 2;

void gemv_bf16_pairs(const GemvArgs& a, const GemvRows& r) {
  if (a.N == 1) {
    Prefetch nothing;
    return dot_rows_bf16<1, 1>(a, 0, r.o0, r.o1, nothing);
  }
  const int64_t row_bytes = a.I * static_cast<int64_t>(sizeof(uint16_t));
  const int64_t block_rows = weight_block_bytes() / row_bytes, rows = block_rows > 0 ? block_rows : 1;
  const int64_t passes = (a.N + kTileXRows - 1) / kTileXRows, vector_pairs = a.I >= 64 ? a.I / 64 : 1;
  in_prefetched_blocks(
      a.w, row_bytes, r, rows, gemv_kernels_avx512().fetch,
      [&](int64_t o, int64_t end) { return passes * ((end - o) / kTileRows + (end - o) % kTileRows) * vector_pairs; },
      [&](int64_t o, int64_t end, Prefetch& ahead) { dot_rows_of_x<kTileRows, kTileXRows>(a, o, end, ahead); });
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
