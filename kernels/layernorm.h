// LayerNorm over the last dimension, and the residual add fused with it.
//
//   layernorm(out, x, weight, bias, 1e-5f, stream);
//       out (N, C) = (x - mean) / sqrt(var + eps) * weight + bias, per row, biased variance
//   residual_layernorm(residual, out, delta, weight, bias, 1e-5f, stream);
//       residual (N, C) += delta, then out = layernorm(residual): one pass over the residual
//       stream instead of two
//
// All tensors contiguous, one floating dtype (f32, bf16, f16); statistics in f32.
#pragma once

#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace pthrun::kernels {

void layernorm(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
               const Stream& stream);
void residual_layernorm(const Tensor& residual, const Tensor& out, const Tensor& delta,
                        const Tensor& weight, const Tensor& bias, float eps, const Stream& stream);

namespace cpu {
void layernorm(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
               const Stream& stream);
void residual_layernorm(const Tensor& residual, const Tensor& out, const Tensor& delta,
                        const Tensor& weight, const Tensor& bias, float eps, const Stream& stream);
}  // namespace cpu
namespace cuda {
void layernorm(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
               const Stream& stream);
void residual_layernorm(const Tensor& residual, const Tensor& out, const Tensor& delta,
                        const Tensor& weight, const Tensor& bias, float eps, const Stream& stream);
}  // namespace cuda

}  // namespace pthrun::kernels
