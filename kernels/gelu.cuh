// The GELUs on the device (include from .cu files), the same functions as the CPU's in
// kernels/cpu/cpu_util.h. The exact one, 0.5 x (1 + erf(x / sqrt 2)), with CUDA's erff (2 ulp),
// as PyTorch's GELU kernel computes it. GPT-2's tanh one: 0.5 x (1 + tanh(u)) = x / (1 + e^(-2u)),
// u = sqrt(2/pi) (x + 0.044715 x^3). For very negative x, e^(-2u) overflows to infinity and the
// result is -0, where the true value is below 1e-37 in magnitude.
#pragma once

namespace pthrun::kernels::cuda_detail {

__device__ __forceinline__ float gelu(float x) {
  const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return x / (1.0f + expf(-2.0f * u));
}

__device__ __forceinline__ float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f)); }

}  // namespace pthrun::kernels::cuda_detail
