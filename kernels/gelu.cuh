// GPT-2's tanh GELU on the device (include from .cu files), the same function as the CPU's
// kernels/cpu/cpu_util.h: 0.5 x (1 + tanh(u)) = x / (1 + e^(-2u)),
// u = sqrt(2/pi) (x + 0.044715 x^3). For very negative x, e^(-2u) overflows to infinity and the
// result is -0, where the true value is below 1e-37 in magnitude.
#pragma once

namespace pthrun::kernels::cuda_detail {

__device__ __forceinline__ float gelu(float x) {
  const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return x / (1.0f + expf(-2.0f * u));
}

}  // namespace pthrun::kernels::cuda_detail
