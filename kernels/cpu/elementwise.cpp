// CPU references of the elementwise kernels (see kernels/elementwise.h): residual add, and
// bias + GELU. Contiguous rows, f32 arithmetic, results rounded to the tensor's dtype.
#include "kernels/elementwise.h"

#include <type_traits>

#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/vector_math.h"
#include "kernels/element.h"
#include "kernels/kernel_check.h"
#include "kernels/op_checks.h"

namespace pthrun::kernels::cpu {

void add(const Tensor& out, const Tensor& a, const Tensor& b, const Stream& stream) {
  (void)stream;  // work on the CPU is synchronous
  check_add(out, a, b);
  dispatch_float(out.dtype(), "add", [&](auto tag) {
    using T = decltype(tag);
    T* o = static_cast<T*>(out.data_ptr());
    const T* pa = static_cast<const T*>(a.data_ptr());
    const T* pb = static_cast<const T*>(b.data_ptr());
    parallel_rows(out.numel(), 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) o[i] = from_f32<T>(to_f32(pa[i]) + to_f32(pb[i]));
    });
  });
}

void bias_gelu(const Tensor& out, const Tensor& x, const Tensor& bias, const Stream& stream) {
  (void)stream;
  const int64_t C = check_bias_gelu(out, x, bias);
  dispatch_float(out.dtype(), "bias_gelu", [&](auto tag) {
    using T = decltype(tag);
    T* o = static_cast<T*>(out.data_ptr());
    const T* px = static_cast<const T*>(x.data_ptr());
    const T* pb = bias.defined() ? static_cast<const T*>(bias.data_ptr()) : nullptr;
    parallel_rows(row_count(out), C * 8, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        T* orow = o + n * C;
        const T* xrow = px + n * C;
        if constexpr (std::is_same_v<T, float>) {
          gelu_f32(orow, xrow, pb, C);
        } else if (pb) {
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) orow[c] = from_f32<T>(gelu(to_f32(xrow[c]) + to_f32(pb[c])));
        } else {
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) orow[c] = from_f32<T>(gelu(to_f32(xrow[c])));
        }
      }
    });
  });
}

}  // namespace pthrun::kernels::cpu
