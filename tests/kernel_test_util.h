// What the kernel suites share: the CPU stream and the float dtypes, random inputs,
// NaN-poisoned outputs, and the one comparison every check goes through.
//
//   std::mt19937 rng(7);
//   Tensor x = random_tensor({5, 13}, DType::bf16, rng);
//   Tensor out = poisoned({5, 13}, DType::bf16);           // NaN until the kernel writes it
//   check_close(out, reference_values, reference_tolerance(DType::bf16), "layernorm bf16");
//
// Every element must pass |ours - ref| <= atol + rtol * |ref|; a NaN or infinity in ours fails
// unless ref holds the same infinity. A failure reports how many elements failed and the worst
// one: its coordinates, both values and its bound.
//
// The bounds, derived from the dtypes (the inputs are of order 1: uniform in [-1, 1] or [-3, 3]):
//
//   u(dtype), the unit roundoff: rounding a value v to the dtype moves it by at most u |v|.
//     f32 2^-24 (24 significant bits), f16 2^-11 (11 bits), bf16 2^-8 (8 bits). f16's smallest
//     spacing, 2^-24 near zero, is far below the atol below.
//   e_f32, the kernels' own f32 arithmetic: sums of up to a few thousand terms (C = 1600
//     channels, I = 3072 inputs) in an order the kernel chooses. Their rounding errors add up
//     like a random walk: about sqrt(3072) 2^-24 = 3.3e-6 of the partial sums, which are of the
//     order of the result. We allow 1e-5 relative plus 1e-5 absolute (for results near zero,
//     whose partial sums were not).
//
//   reference_tolerance: a kernel (f32 arithmetic, one rounding to the output dtype) against an
//     exact reference computed in double:  rtol = u + 1e-5, atol = 1e-5.
//       f32 1.0e-5, f16 5.0e-4, bf16 3.9e-3 relative.
//   twin_tolerance: two kernels computing the same function in f32 in different orders (the GPU
//     against the CPU), each rounding once to the output dtype. Rounding a and b gives results
//     apart by at most |a - b| + u |a| + u |b|, so rtol = 2u + 2e-5, atol = 2e-5.
//       f32 2.0e-5, f16 1.0e-3, bf16 7.8e-3 relative: one unit in the last place of the output.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace pthrun::test {

inline const Stream cpu_stream{cpu_device};
inline constexpr DType kFloatTypes[] = {DType::f32, DType::bf16, DType::f16};

// Uniform values in [lo, hi), rounded to `dtype`, on `device`.
inline Tensor random_tensor(const Shape& shape, DType dtype, std::mt19937& rng, float lo = -1, float hi = 1,
                            Device device = cpu_device) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(static_cast<std::size_t>(shape_numel(shape)));
  for (float& v : values) v = dist(rng);
  Tensor host = Tensor::from_vector(values, shape).to(dtype);
  return device.is_cpu() ? host : host.to(device);
}

inline Tensor int_tensor(const std::vector<int32_t>& values, Device device = cpu_device) {
  return Tensor::from_vector(values, {static_cast<int64_t>(values.size())}, device);
}

// A tensor of NaNs: a kernel that skips an element leaves a NaN that fails the comparison.
inline Tensor poisoned(const Shape& shape, DType dtype, Device device = cpu_device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  t.fill_(std::nan(""));
  return t;
}

struct Tolerance {
  double atol, rtol;
};

// The unit roundoff of a result stored in `dtype` (see the top of this file).
inline double unit_roundoff(DType dtype) {
  switch (dtype) {
    case DType::bf16:
      return std::ldexp(1.0, -8);
    case DType::f16:
      return std::ldexp(1.0, -11);
    default:
      return std::ldexp(1.0, -24);
  }
}

inline constexpr double kF32Error = 1e-5;

inline Tolerance reference_tolerance(DType dtype) { return {kF32Error, unit_roundoff(dtype) + kF32Error}; }
inline Tolerance twin_tolerance(DType dtype) { return {2 * kF32Error, 2 * unit_roundoff(dtype) + 2 * kF32Error}; }

// "[2, 7]": the coordinates of flat index i in a row-major `shape` (just "[i]" without one).
inline std::string coordinates(std::size_t i, const Shape& shape) {
  if (shape.empty()) return str("[", i, "]");
  std::vector<int64_t> at(static_cast<std::size_t>(shape.size()));
  auto rest = static_cast<int64_t>(i);
  for (int d = shape.size() - 1; d >= 0; --d) {
    at[static_cast<std::size_t>(d)] = rest % shape[d];
    rest /= shape[d];
  }
  std::string out = "[";
  for (std::size_t d = 0; d < at.size(); ++d) out += str(d ? ", " : "", at[d]);
  return out + "]";
}

// Checks every element against its own bound: |ours[i] - ref[i]| <= bound[i].
inline void check_within(const std::vector<double>& ours, const std::vector<double>& ref,
                         const std::vector<double>& bound, const std::string& what, const Shape& shape = {}) {
  if (ours.size() != ref.size() || bound.size() != ref.size()) {
    FAIL_CHECK(what << ": " << ours.size() << " values against " << ref.size() << " references");
    return;
  }
  std::size_t failed = 0, worst = 0;
  double worst_excess = 0;
  for (std::size_t i = 0; i < ours.size(); ++i) {
    if (ours[i] == ref[i]) continue;  // equal infinities pass; a NaN never equals anything
    const double diff = std::isfinite(ours[i]) ? std::fabs(ours[i] - ref[i]) : INFINITY;
    if (diff <= bound[i]) continue;
    const double excess = diff - bound[i];
    if (failed++ == 0 || excess > worst_excess) worst = i, worst_excess = excess;
  }
  if (failed == 0) {
    CHECK(failed == 0);
    return;
  }
  FAIL_CHECK(what << ": " << failed << " of " << ours.size() << " elements out of bounds; worst at "
                  << coordinates(worst, shape) << ": ours " << ours[worst] << ", ref " << ref[worst] << ", |diff| "
                  << std::fabs(ours[worst] - ref[worst]) << " > " << bound[worst]);
}

inline void check_close(const std::vector<double>& ours, const std::vector<double>& ref, Tolerance tol,
                        const std::string& what, const Shape& shape = {}) {
  std::vector<double> bound(ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i) bound[i] = tol.atol + tol.rtol * std::fabs(ref[i]);
  check_within(ours, ref, bound, what, shape);
}

inline void check_close(const Tensor& ours, const std::vector<double>& ref, Tolerance tol, const std::string& what) {
  check_close(ours.to_doubles(), ref, tol, what, ours.shape());
}

}  // namespace pthrun::test
