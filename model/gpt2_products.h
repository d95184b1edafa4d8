// The matrix products a GPT-2 runs, one GemmShape per distinct kernels::linear call of
// model/gpt2.cpp (per block: q/k/v, the attention projection, the MLP's GELU layer and its
// projection; then the output head, into full logits rows and into one row of the (B, V)
// logits buffer, which for V = 50257 is only 4-byte aligned), for `rows` rows each. For asking
// cuBLASLt whether any of them would fall back to the naive kernel (kernels/cuda_gemm.h):
// `pthrun info` and test_gpu_model do.
#pragma once

#include <span>
#include <vector>

#include "kernels/cuda_gemm.h"
#include "model/config.h"

namespace pthrun {

std::vector<kernels::GemmShape> gpt2_products(const Gpt2Config& config, DType dtype, kernels::WeightLayout layout,
                                              std::span<const int64_t> rows, bool tf32 = false);

}  // namespace pthrun
