// Token + position embedding.
//
//   embedding(x, tokens, positions, wte, wpe, stream);   // x (N, C) = wte[tokens] + wpe[positions]
//
// tokens, positions: (N) int32 on the output's device, already range-checked by the caller
// (the model checks ids against the vocabulary before they reach a kernel). wte (V, C),
// wpe (T_max, C) and x share one floating dtype (f32, bf16 or f16); sums are formed in f32.
#pragma once

#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace pthrun::kernels {

void embedding(const Tensor& out, const Tensor& tokens, const Tensor& positions, const Tensor& wte,
               const Tensor& wpe, const Stream& stream);

namespace cpu {
void embedding(const Tensor& out, const Tensor& tokens, const Tensor& positions, const Tensor& wte,
               const Tensor& wpe, const Stream& stream);
}
namespace cuda {
void embedding(const Tensor& out, const Tensor& tokens, const Tensor& positions, const Tensor& wte,
               const Tensor& wpe, const Stream& stream);
}

}  // namespace pthrun::kernels
