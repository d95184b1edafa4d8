// The matrix-vector kernels (cpu/gemv_impl.h) for AVX2 with FMA and F16C: 8 floats per
// vector; bf16 widened by a shift, f16 by vcvtph2ps, int8 by vpmovsxbd and vcvtdq2ps.
// Compiled with -mavx2 -mfma -mf16c (see kernels/CMakeLists.txt); called only when the CPU
// has them.
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/gemv.h"

namespace pthrun::kernels::cpu {

namespace {

struct V {
  using F = __m256;
  static constexpr int64_t kLanes = 8;
  // Tiles of a many-row product (cpu/gemv_impl.h): out_in, two accumulators for each of 2 x 3
  // pairs of weight and x rows, 12 of the 16 vector registers, with 2 for the weight vectors
  // and one for x's; each vector loaded serves 2 or 3 products. The 1 x 4 tile before it
  // loaded 5 vectors for 4 (one core, 16 rows, gpt2-small's products and head from memory:
  // 23.4-30.2 ms against 25.5-33.4 with f32 weights, lower in each of 5 paired runs;
  // 28.5-36.2 against 44.9-45.9 with bf16, which widens each weight vector once for more
  // products; int8 level). in_out, 4 rows of x times 2 column vectors: 3 x 2 was slower (qkv
  // 2.2-2.3 ms against 1.6-2.0).
  static constexpr int kTileRows = 2;
  static constexpr int kTileXRows = 3;
  static constexpr int kInOutXRows = 4;
  static constexpr int kTileVectors = 2;
  static F zero() { return _mm256_setzero_ps(); }
  static F set1(float v) { return _mm256_set1_ps(v); }
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static F in_register(F v) {
    asm("" : "+v"(v));
    return v;
  }
  static void touch(const void* p) {
    const __m256i v = _mm256_loadu_si256(static_cast<const __m256i*>(p));
    asm volatile("" : : "v"(v));
  }
  static float sum(F v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static void sums(const F* v, int count, float* out) {
    for (int k = 0; k < count; ++k) out[k] = sum(v[k]);
  }
  static F bf16(const uint16_t* p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  static F f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static F i8(const int8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
  static float bf16_1(uint16_t v) { return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128(int(uint32_t(v) << 16)))); }
  static float f16_1(uint16_t v) { return _cvtsh_ss(v); }
  static constexpr int kNearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  static void store_f16(uint16_t* p, F v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, kNearest)); }
  static uint16_t f16_of(float v) { return _cvtss_sh(v, kNearest); }
};

#include "kernels/cpu/gemv_impl.h"

}  // namespace

const GemvKernels& gemv_kernels_avx2() {
  static const GemvKernels table = make_table(CpuIsa::avx2);
  return table;
}

}  // namespace pthrun::kernels::cpu
