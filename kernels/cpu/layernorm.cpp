// CPU references of LayerNorm and residual + LayerNorm (see kernels/layernorm.h).
//
// Per row: the mean, then the biased variance as the mean of squared deviations (two passes:
// one pass E[x^2] - E[x]^2 cancels badly when the mean is large), then the affine map. The
// two sums are accumulated in double: with a large mean an f32 sum of 768 values loses about
// 1e-5 of the deviations, which is the whole f32 error budget. residual_layernorm normalises
// the residual as stored, i.e. rounded to its dtype, so that fused and unfused calls agree.
#include "kernels/layernorm.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_util.h"
#include "kernels/element.h"
#include "kernels/kernel_check.h"
#include "kernels/op_checks.h"

namespace pthrun::kernels::cpu {

namespace {

// out = (v - mean) / sqrt(var + eps) * weight + bias for one row of C values in f32.
template <typename T>
void normalize_row(T* out, const float* v, const T* weight, const T* bias, int64_t C, float eps) {
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t c = 0; c < C; ++c) sum += v[c];
  const float mean = static_cast<float>(sum / static_cast<double>(C));
  double squares = 0;
#pragma omp simd reduction(+ : squares)
  for (int64_t c = 0; c < C; ++c) squares += static_cast<double>((v[c] - mean) * (v[c] - mean));
  const float rstd = static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(C) + eps));
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) out[c] = from_f32<T>((v[c] - mean) * rstd * to_f32(weight[c]) + to_f32(bias[c]));
}

}  // namespace

void layernorm(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
               const Stream& stream) {
  (void)stream;  // work on the CPU is synchronous
  const int64_t C = check_layernorm(out, x, weight, bias, eps);
  dispatch_float(out.dtype(), "layernorm", [&](auto tag) {
    using T = decltype(tag);
    T* o = static_cast<T*>(out.data_ptr());
    const T* px = static_cast<const T*>(x.data_ptr());
    const T* w = static_cast<const T*>(weight.data_ptr());
    const T* b = static_cast<const T*>(bias.data_ptr());
    parallel_rows(row_count(out), C * 4, [&](int64_t begin, int64_t end) {
      std::vector<float> row(static_cast<std::size_t>(C));
      for (int64_t n = begin; n < end; ++n) {
        const T* xrow = px + n * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) row[c] = to_f32(xrow[c]);
        normalize_row(o + n * C, row.data(), w, b, C, eps);
      }
    });
  });
}

void residual_layernorm(const Tensor& residual, const Tensor& out, const Tensor& delta, const Tensor& weight,
                        const Tensor& bias, float eps, const Stream& stream) {
  (void)stream;
  const char* op = "residual_layernorm";
  const int64_t C = check_residual_layernorm(residual, out, delta, weight, bias, eps);
  dispatch_float(out.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    T* r = static_cast<T*>(residual.data_ptr());
    T* o = static_cast<T*>(out.data_ptr());
    const T* d = static_cast<const T*>(delta.data_ptr());
    const T* w = static_cast<const T*>(weight.data_ptr());
    const T* b = static_cast<const T*>(bias.data_ptr());
    parallel_rows(row_count(out), C * 5, [&](int64_t begin, int64_t end) {
      std::vector<float> row(static_cast<std::size_t>(C));
      for (int64_t n = begin; n < end; ++n) {
        T* rrow = r + n * C;
        const T* drow = d + n * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
          rrow[c] = from_f32<T>(to_f32(rrow[c]) + to_f32(drow[c]));
          row[c] = to_f32(rrow[c]);
        }
        normalize_row(o + n * C, row.data(), w, b, C, eps);
      }
    });
  });
}

}  // namespace pthrun::kernels::cpu
