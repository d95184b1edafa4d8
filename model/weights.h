// GPT-2's weights: a plain struct of named tensors, allocated once, before any byte is read.
//
// Matrices stay in the layout their checkpoint uses (kernels::WeightLayout): the book's
// nn.Linear stores [out, in], Hugging Face's Conv1D [in, out]; the matrix products pick the
// transpose, so loading is a straight copy. The book's separate W_query/W_key/W_value are loaded
// into the three row blocks of one fused qkv matrix, as HF's c_attn already is.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/matmul.h"
#include "model/config.h"
#include "runtime/device.h"
#include "runtime/dtype.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace pthrun {

struct Gpt2LayerWeights {
  Tensor ln1_w, ln1_b;          // (C), (C)
  Tensor qkv_w;                 // (3C, C) out_in, or (C, 3C) in_out; rows/columns q | k | v
  Tensor qkv_b;                 // (3C); undefined without q/k/v bias
  Tensor proj_w, proj_b;        // (C, C), (C)
  Tensor ln2_w, ln2_b;          // (C), (C)
  Tensor fc_w, fc_b;            // (4C, C) out_in or (C, 4C) in_out, (4C)
  Tensor fc_proj_w, fc_proj_b;  // (C, 4C) out_in or (4C, C) in_out, (C)
};

struct Gpt2Weights {
  Tensor wte;                   // (V, C) token embedding
  Tensor wpe;                   // (T_max, C) position embedding
  std::vector<Gpt2LayerWeights> layers;  // L of them
  Tensor lnf_w, lnf_b;          // (C), (C)
  Tensor head;                  // (V, C) [out, in]; the same tensor as wte when tied
  kernels::WeightLayout matrix_layout = kernels::WeightLayout::out_in;  // of the block matrices

  uint64_t nbytes() const;  // every distinct tensor once
};

// Allocates every weight on `device` in `dtype` (uninitialised), under the allocator scope
// "weights/<name>", after reserving their total in one segment.
Gpt2Weights allocate_weights(const Gpt2Config& config, kernels::WeightLayout matrix_layout,
                             Device device, DType dtype, const Stream& stream);

}  // namespace pthrun
