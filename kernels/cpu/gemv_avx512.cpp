// The matrix-vector kernels (cpu/gemv_impl.h) for AVX-512 (F, BW, VL, DQ) with FMA and F16C:
// 16 floats per vector; bf16 widened by a shift, f16 by vcvtph2ps, int8 by vpmovsxbd and
// vcvtdq2ps. Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c (see
// kernels/CMakeLists.txt); called only when the CPU has them.
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/gemv.h"

namespace pthrun::kernels::cpu {

namespace {

struct V {
  using F = __m512;
  static constexpr int64_t kLanes = 16;
  // Tiles of a many-row product (cpu/gemv_impl.h): out_in, two accumulators for each of 2 x 6
  // pairs of weight and x rows; in_out, 6 rows of x times 4 column vectors. Either takes 24 of
  // the 32 vector registers for its sums (2 x 6 measured 1.3-1.6x faster than 3 x 4: each
  // weight vector loaded serves more rows of x, which is what a batch has many of).
  static constexpr int kTileRows = 2;
  static constexpr int kTileXRows = 6;
  static constexpr int kInOutXRows = 6;
  static constexpr int kTileVectors = 4;
  static F zero() { return _mm512_setzero_ps(); }
  static F set1(float v) { return _mm512_set1_ps(v); }
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F in_register(F v) {
    asm("" : "+v"(v));
    return v;
  }
  static float sum(F v) { return _mm512_reduce_add_ps(v); }
  static void touch(const void* p) {
    const __m512i v = _mm512_loadu_si512(p);
    asm volatile("" : : "v"(v));
  }
  // out[k] = sum(v[k]) for the count <= 16 vectors, transposed: each step adds the halves of
  // two vectors in one instruction, 45 instructions for 16 sums where sum() takes 7 for one.
  // Each sum is sum()'s tree: lanes i and i + 8, then + 4, + 2, + 1.
  static void sums(const F* v, int count, float* out) {
    F a[16];
    for (int k = 0; k < 16; ++k) a[k] = k < count ? v[k] : zero();
    // b[j]: lanes 0-7 hold a[2j]'s sums of lanes i and i + 8, lanes 8-15 a[2j + 1]'s.
    F b[8];
    for (int j = 0; j < 8; ++j)
      b[j] = add(_mm512_shuffle_f32x4(a[2 * j], a[2 * j + 1], 0x44),
                 _mm512_shuffle_f32x4(a[2 * j], a[2 * j + 1], 0xEE));
    // c[j]: quarter q holds a[4j + q]'s four sums of the next step (i and i + 4).
    F c[4];
    for (int j = 0; j < 4; ++j)
      c[j] = add(_mm512_shuffle_f32x4(b[2 * j], b[2 * j + 1], 0x88),
                 _mm512_shuffle_f32x4(b[2 * j], b[2 * j + 1], 0xDD));
    // d[j], quarter q: the two sums (i and i + 2) of c[2j]'s quarter q, then c[2j + 1]'s.
    F d[2];
    for (int j = 0; j < 2; ++j)
      d[j] = add(_mm512_shuffle_ps(c[2 * j], c[2 * j + 1], 0x44), _mm512_shuffle_ps(c[2 * j], c[2 * j + 1], 0xEE));
    // Lane 4q + m: the sum of c[m]'s quarter q, which is a[4m + q]'s.
    float e[16];
    store(e, add(_mm512_shuffle_ps(d[0], d[1], 0x88), _mm512_shuffle_ps(d[0], d[1], 0xDD)));
    for (int k = 0; k < count; ++k) out[k] = e[4 * (k % 4) + k / 4];
  }
  static F bf16(const uint16_t* p) {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
  static F f16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static F i8(const int8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
  static float bf16_1(uint16_t v) { return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128(int(uint32_t(v) << 16)))); }
  static float f16_1(uint16_t v) { return _cvtsh_ss(v); }
  static constexpr int kNearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  static void store_f16(uint16_t* p, F v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtps_ph(v, kNearest)); }
  static uint16_t f16_of(float v) { return _cvtss_sh(v, kNearest); }
};

#include "kernels/cpu/gemv_impl.h"

}  // namespace

const GemvKernels& gemv_kernels_avx512() {
  static const GemvKernels table = make_table(CpuIsa::avx512);
  return table;
}

}  // namespace pthrun::kernels::cpu
