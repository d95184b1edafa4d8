// GPT-2's weights: a plain struct of named tensors, allocated once, before any byte is read.
//
// Matrices stay in the layout their checkpoint uses (kernels::WeightLayout): the book's
// nn.Linear stores [out, in], Hugging Face's Conv1D [in, out]; the matrix products pick the
// transpose, so loading is a straight copy. The book's separate W_query/W_key/W_value are loaded
// into the three row blocks of one fused qkv matrix, as HF's c_attn already is.
//
// Reduced-precision weights on the CPU (see note [CPU weight dtypes]): the block matrices and
// the head are stored in bf16, f16 or int8 and every other tensor (embeddings, LayerNorms,
// biases) in f32, as are the activations; the head then is a tensor of its own even when tied
// (the embedding stays f32 for the lookup, the head is what decode streams). int8 matrices are
// stored (O, I) whatever the checkpoint's layout, with one f32 scale per group of kInt8Group
// inputs (kernels/linear_weight.h says why groups).
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
  Tensor qkv_s, proj_s, fc_s, fc_proj_s;  // int8 only: (O, ceil(I / group)) f32 scales
};

struct Gpt2Weights {
  Tensor wte;                   // (V, C) token embedding
  Tensor wpe;                   // (T_max, C) position embedding
  std::vector<Gpt2LayerWeights> layers;  // L of them
  Tensor lnf_w, lnf_b;          // (C), (C)
  Tensor head;                  // (V, C) [out, in]; the same tensor as wte when tied (f32)
  Tensor head_s;                // int8 only: (V, ceil(C / group)) f32 scales
  kernels::WeightLayout matrix_layout = kernels::WeightLayout::out_in;  // of the block matrices
  int64_t int8_group = 0;       // int8 only: inputs per scale

  uint64_t nbytes() const;  // every distinct tensor once
  // A block matrix (or the head, with head_s) as the products take it.
  kernels::LinearWeight matrix(const Tensor& values, const Tensor& scales) const;
  kernels::LinearWeight head_weight() const;
  // Every tensor field, defined or not, for code that swaps one storage for another.
  std::vector<Tensor*> fields();
};

// Inputs per int8 scale: 64 (12 groups per row of gpt2-small's 768 inputs).
constexpr int64_t kInt8Group = 64;

// The dtype of a model's activations, KV cache and small tensors: the weights' own on a GPU,
// f32 on the CPU whatever the matrices are stored in.
DType activation_dtype(Device device, DType weight_dtype);

// Allocates every weight on `device` (uninitialised), under the allocator scope
// "weights/<name>", after reserving their total in one segment: all in `dtype`, except on the
// CPU, where only the block matrices and the head take `dtype` (bf16, f16 or i8) and the rest
// f32 (activation_dtype). Without `reserve`, each tensor is an allocation of its own, so that
// the ones later swapped for views of a mapped file (gpt2.cpp) can be given back. The block
// matrices take `matrix_layout`, which for int8 must be out_in (the caller picks it:
// model_matrix_layout in gpt2.cpp).
Gpt2Weights allocate_weights(const Gpt2Config& config, kernels::WeightLayout matrix_layout,
                             Device device, DType dtype, const Stream& stream, bool reserve = true);

}  // namespace pthrun
