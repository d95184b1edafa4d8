// Helpers of the kernel tests: random inputs, NaN-poisoned outputs, and the one comparison
// every check goes through.
//
//   std::mt19937 rng(7);
//   Tensor x = random_tensor({5, 13}, DType::bf16, rng);
//   Tensor out = poisoned({5, 13}, DType::bf16);           // NaN until the kernel writes it
//   check_close(out, reference_values, tolerance(DType::bf16), "layernorm bf16");
//
// The metric is ||ours - ref|| / ||ref|| over all elements; a NaN or infinity anywhere in
// ours fails, whatever the norm says.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace pthrun::test {

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

// ||ours - ref|| / ||ref||; infinity when sizes differ or ours holds a NaN or infinity.
inline double relative_error(const std::vector<double>& ours, const std::vector<double>& ref) {
  if (ours.size() != ref.size()) return INFINITY;
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < ours.size(); ++i) {
    if (!std::isfinite(ours[i])) return INFINITY;
    diff += (ours[i] - ref[i]) * (ours[i] - ref[i]);
    norm += ref[i] * ref[i];
  }
  if (norm == 0) return diff == 0 ? 0 : INFINITY;
  return std::sqrt(diff / norm);
}

// Relative tolerance for a result stored in `dtype` after f32 arithmetic: f32 results carry a
// few ulps of accumulated rounding; bf16 and f16 results one rounding of the output (2^-9 and
// 2^-12 relative), with margin.
inline double tolerance(DType dtype) {
  switch (dtype) {
    case DType::bf16:
      return 8e-3;
    case DType::f16:
      return 1e-3;
    default:
      return 1e-5;
  }
}

// Fails with the relative error, the largest difference and the first values when ours is not
// within `tol` of ref.
inline void check_close(const std::vector<double>& ours, const std::vector<double>& ref, double tol,
                        const std::string& what) {
  const double rel = relative_error(ours, ref);
  if (rel <= tol) {
    CHECK(rel <= tol);
    return;
  }
  double max_abs = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < ours.size() && i < ref.size(); ++i) {
    const double d = std::isfinite(ours[i]) ? std::fabs(ours[i] - ref[i]) : INFINITY;
    if (d > max_abs) max_abs = d, at = i;
  }
  std::string first;
  for (std::size_t i = 0; i < 4 && i < ours.size() && i < ref.size(); ++i) first += str(" ", ours[i], "/", ref[i]);
  FAIL_CHECK(what << ": relative error " << rel << " > " << tol << ", max |diff| " << max_abs << " at " << at
                  << ", first ours/ref:" << first << " (" << ours.size() << " vs " << ref.size() << " values)");
}

inline void check_close(const Tensor& ours, const std::vector<double>& ref, double tol, const std::string& what) {
  check_close(ours.to_doubles(), ref, tol, what);
}

}  // namespace pthrun::test
