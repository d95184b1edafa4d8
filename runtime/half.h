// IEEE binary16 (f16) and bfloat16 (bf16) <-> float32, as bit patterns.
//
// Round to nearest, ties to even; infinities preserved; a NaN stays a NaN of the same sign with
// its top payload bits kept and the quiet bit set. The same code compiles for the host and for
// CUDA kernels (PTHRUN_HD): the runtime's copy kernels (runtime/copy_kernels.cu) convert with it,
// so that tensor conversions are bit-identical on the CPU and on the GPU. The compute kernels
// use the hardware's conversions instead (kernels/element.h), which round the same way and
// differ only in the payload bits of a NaN.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define PTHRUN_HD __host__ __device__ __forceinline__
#else
#define PTHRUN_HD inline
#endif

namespace pthrun {

PTHRUN_HD uint32_t float_bits(float value) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(value);
#else
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
#endif
}

PTHRUN_HD float bits_float(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
#endif
}

// v, or, when v is a NaN, v with its quiet bit set: what IEEE 754's conversions return for a
// signaling NaN, and what the GPU's do.
PTHRUN_HD float quiet_nan(float v) { return v == v ? v : bits_float(float_bits(v) | 0x00400000u); }

PTHRUN_HD float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return bits_float(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) return bits_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
  if (mantissa == 0) return bits_float(sign);
  // Subnormal: mantissa * 2^-24; shift the leading one up to the implicit-bit position.
  uint32_t e = 113;
  while (!(mantissa & 0x400u)) {
    mantissa <<= 1;
    --e;
  }
  return bits_float(sign | (e << 23) | ((mantissa & 0x3ffu) << 13));
}

PTHRUN_HD uint16_t f32_to_f16(float value) {
  uint32_t x = float_bits(value);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) return uint16_t(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));  // NaN
  if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to or is infinity
  if (abs >= 0x38800000u) {                                  // normal in f16
    uint32_t h = (abs - 0x38000000u) >> 13;
    uint32_t rest = abs & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
    return uint16_t(sign | h);
  }
  uint32_t e = abs >> 23;
  if (e < 102) return uint16_t(sign);  // below half the smallest subnormal: zero
  // Subnormal in f16: round(mantissa * 2^(e-126)), the shift is 14..24.
  uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
  uint32_t shift = 126 - e;
  uint32_t h = mantissa >> shift;
  uint32_t rest = mantissa & ((1u << shift) - 1);
  uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (h & 1u))) ++h;
  return uint16_t(sign | h);
}

PTHRUN_HD float bf16_to_f32(uint16_t b) { return bits_float(uint32_t(b) << 16); }

PTHRUN_HD uint16_t f32_to_bf16(float value) {
  uint32_t x = float_bits(value);
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);  // quiet NaN
  uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return uint16_t((x + rounding) >> 16);
}

}  // namespace pthrun
