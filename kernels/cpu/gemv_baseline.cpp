// The matrix-vector kernels (cpu/gemv_impl.h) in portable C++ for any CPU: a "vector" of four
// floats that the compiler maps to whatever the build targets (SSE2 on x86-64). bf16 and f16
// are widened bit by bit (runtime/half.h's conversions). Compiled with the build's own flags,
// so it may include anything.
#include <cstdint>
#include <cstring>

#include "kernels/cpu/gemv.h"
#include "runtime/half.h"

namespace pthrun::kernels::cpu {

namespace {

struct V {
  struct F {
    float v[4];
  };
  static constexpr int64_t kLanes = 4;
  // Weight rows per tile of a many-row product (cpu/gemv_impl.h): no wide registers to share.
  static constexpr int kTileRows = 1;
  // Rows of x per tile of either layout, and column vectors per in_out tile.
  static constexpr int kTileXRows = 4;
  static constexpr int kInOutXRows = 4;
  static constexpr int kTileVectors = 2;
  static F zero() { return {{0, 0, 0, 0}}; }
  static F set1(float s) { return {{s, s, s, s}}; }
  static F load(const float* p) { return {{p[0], p[1], p[2], p[3]}}; }
  static F fma(F a, F b, F c) {
    for (int k = 0; k < 4; ++k) c.v[k] += a.v[k] * b.v[k];
    return c;
  }
  static F add(F a, F b) {
    for (int k = 0; k < 4; ++k) a.v[k] += b.v[k];
    return a;
  }
  static void store(float* p, F a) { std::memcpy(p, a.v, sizeof a.v); }
  static F in_register(F a) { return a; }
  static void touch(const void* p) { (void)*static_cast<const volatile char*>(p); }
  static float sum(F a) { return (a.v[0] + a.v[1]) + (a.v[2] + a.v[3]); }
  static void sums(const F* v, int count, float* out) {
    for (int k = 0; k < count; ++k) out[k] = sum(v[k]);
  }
  static F bf16(const uint16_t* p) { return {{bf16_1(p[0]), bf16_1(p[1]), bf16_1(p[2]), bf16_1(p[3])}}; }
  static F f16(const uint16_t* p) { return {{f16_1(p[0]), f16_1(p[1]), f16_1(p[2]), f16_1(p[3])}}; }
  static F i8(const int8_t* p) { return {{float(p[0]), float(p[1]), float(p[2]), float(p[3])}}; }
  static float bf16_1(uint16_t b) { return bf16_to_f32(b); }
  static float f16_1(uint16_t h) { return f16_to_f32(h); }
  static void store_f16(uint16_t* p, F a) {
    for (int k = 0; k < 4; ++k) p[k] = f32_to_f16(a.v[k]);
  }
  static uint16_t f16_of(float v) { return f32_to_f16(v); }
};

#include "kernels/cpu/gemv_impl.h"

}  // namespace

const GemvKernels& gemv_kernels_baseline() {
  static const GemvKernels table = make_table(CpuIsa::baseline);
  return table;
}

}  // namespace pthrun::kernels::cpu
