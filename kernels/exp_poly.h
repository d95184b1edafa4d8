// e^x from a range reduction and a degree-7 Taylor polynomial, in plain f32 adds and
// multiplies.
//
//   float e = exp_poly(x);   // |relative error| < 4e-7 for x in [-87, 88]
//
// Two uses, one reason each:
// - The CPU kernels (softmax, GELU) need an exp the compiler can vectorise; std::exp is a
//   library call it cannot.
// - Sampling must draw the same token on the CPU and on the GPU. Every step here is one
//   correctly rounded IEEE operation (on the device spelled __fmul_rn/__fadd_rn, which nvcc
//   never fuses into an FMA), so both produce the same bits; CUDA's expf and glibc's expf
//   do not agree to the last bit.
// Inputs are clamped to [-87, 88] (e^-87 is still a normal float, e^88 is finite); a NaN
// comes back as a NaN.
#pragma once

#include <cmath>
#include <cstdint>

#include "runtime/half.h"

namespace pthrun::kernels {

namespace exp_poly_detail {

PTHRUN_HD float mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

PTHRUN_HD float add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

PTHRUN_HD bool is_nan(float x) {
#if defined(__CUDA_ARCH__)
  return x != x;
#else
  return std::isnan(x);  // unlike x != x, this form does not stop GCC vectorising for AVX2
#endif
}

}  // namespace exp_poly_detail

PTHRUN_HD float exp_poly(float x) {
  using exp_poly_detail::add;
  using exp_poly_detail::mul;
  // The clamp sends a NaN to -87 (converting a NaN to int is undefined); the NaN is restored
  // at the end. Written as selects so that loops over this vectorise.
  float d = -87.0f < x ? x : -87.0f;
  d = d < 88.0f ? d : 88.0f;
  // x = n ln2 + r with n = round(x / ln2), |r| <= ln2 / 2. ln2 is split in a high part with
  // few mantissa bits (n * hi is exact) and the rest.
  const float t = mul(d, 1.44269504f);
  const int n = static_cast<int>(add(t, t < 0.0f ? -0.5f : 0.5f));
  const float nf = static_cast<float>(n);
  const float r = add(add(d, mul(nf, -0.693145751953125f)), mul(nf, -1.42860682e-6f));
  // 1 + r + r^2/2! + ... + r^7/7!, Horner form; the truncation error is below 6e-9.
  float p = 1.0f / 5040.0f;
  p = add(mul(p, r), 1.0f / 720.0f);
  p = add(mul(p, r), 1.0f / 120.0f);
  p = add(mul(p, r), 1.0f / 24.0f);
  p = add(mul(p, r), 1.0f / 6.0f);
  p = add(mul(p, r), 0.5f);
  p = add(mul(p, r), 1.0f);
  p = add(mul(p, r), 1.0f);
  // n is in [-126, 127]: 2^n is a normal float built from its exponent bits.
  const float scale = bits_float(static_cast<uint32_t>(n + 127) << 23);
  const float e = mul(p, scale);
  return exp_poly_detail::is_nan(x) ? x : e;
}

}  // namespace pthrun::kernels
