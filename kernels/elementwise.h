// Elementwise kernels: residual add, and bias + GELU.
//
//   add(out, a, b, stream);             // out = a + b; out may alias a or b
//   bias_gelu(out, x, bias, stream);    // out (N, C) = gelu(x + bias); bias (C) may be undefined;
//                                       // out may alias x
//
// GELU is the tanh approximation GPT-2 uses:
//   0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// Contiguous tensors of one floating dtype; arithmetic in f32.
#pragma once

#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace pthrun::kernels {

void add(const Tensor& out, const Tensor& a, const Tensor& b, const Stream& stream);
void bias_gelu(const Tensor& out, const Tensor& x, const Tensor& bias, const Stream& stream);

namespace cpu {
void add(const Tensor& out, const Tensor& a, const Tensor& b, const Stream& stream);
void bias_gelu(const Tensor& out, const Tensor& x, const Tensor& bias, const Stream& stream);
}  // namespace cpu
namespace cuda {
void add(const Tensor& out, const Tensor& a, const Tensor& b, const Stream& stream);
void bias_gelu(const Tensor& out, const Tensor& x, const Tensor& bias, const Stream& stream);
}  // namespace cuda

}  // namespace pthrun::kernels
