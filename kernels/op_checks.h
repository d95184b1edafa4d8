// The preconditions of every kernel, checked the same way by the CPU reference and the CUDA
// entry so that both refuse the same calls with the same message. Each returns the sizes the
// kernel needs, named as in the README's glossary (N rows, C channels, NH heads, HS head
// size, V vocabulary, B sequences, T_max cache positions).
//
//   const LinearDims d = check_linear(out, x, weight, bias);   // throws pthrun::Error
#pragma once

#include <cstdint>

#include "kernels/matmul.h"
#include "kernels/sampling.h"
#include "runtime/tensor.h"

namespace pthrun::kernels {

struct EmbeddingDims {
  int64_t N, C, V, T_max;
};
// out (N, C); tokens, positions (N) i32; wte (V, C), wpe (T_max, C) of out's dtype.
EmbeddingDims check_embedding(const Tensor& out, const Tensor& tokens, const Tensor& positions, const Tensor& wte,
                              const Tensor& wpe);

// Returns C. out, x (..., C); weight, bias (C); out == x or disjoint; eps finite >= 0.
int64_t check_layernorm(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias, float eps);
// Returns C. residual, out, delta (..., C); residual disjoint from both; out == delta or disjoint.
int64_t check_residual_layernorm(const Tensor& residual, const Tensor& out, const Tensor& delta, const Tensor& weight,
                                 const Tensor& bias, float eps);

struct LinearDims {
  int64_t N, I, O;
};
// x (N, I); weight values (O, I) or (I, O) by layout, of x's dtype, or (with x f32) bf16, f16
// or int8 (O, I) with its scales (see linear_weight.h); bias (O) of x's dtype or undefined;
// out (N, O) of x's dtype or f32, disjoint from the inputs.
LinearDims check_linear(const Tensor& out, const Tensor& x, const LinearWeight& weight, const Tensor& bias);
// Whether the weight's values have another dtype than x (the CPU's f32-activation form).
bool is_mixed_precision(const Tensor& x, const LinearWeight& weight);

struct AttentionDims {
  int64_t B = 1;  // sequences in the cache (1 for prefill's single-sequence view)
  int64_t NH = 0;
  int64_t HS = 0;
  int64_t C = 0;      // NH * HS
  int64_t T_max = 0;  // cache capacity in positions
  int64_t N = 0;      // rows of qkv
};
// The caches hold the activations' dtype (qkv's, out's) or, for f32 activations, bf16 or f16
// (a CPU session's 16-bit cache, note [KV cache dtype] in model/gpt2.h); k and v alike.
// k_cache, v_cache (B, NH, T_max, HS); qkv (N, 3C); sequences, positions (N) i32.
AttentionDims check_kv_cache_append(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv,
                                    const Tensor& sequences, const Tensor& positions, int num_heads);
// out (T, C), qkv (T, 3C), caches (NH, T_max, HS), 0 <= pos0, pos0 + T <= T_max.
AttentionDims check_attention_prefill(const Tensor& out, const Tensor& qkv, const Tensor& k_cache,
                                      const Tensor& v_cache, int64_t pos0, int num_heads);
// out (B, C), qkv (B, 3C), caches (B, NH, T_max, HS), positions (B) i32, workspace f32 with at
// least attention_decode_workspace_elems(B, NH, T_max, HS) elements.
AttentionDims check_attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                                     const Tensor& positions, int num_heads, const Tensor& workspace);

struct SamplingDims {
  int64_t B, V;
};
// tokens (B) i32, logits (B, V) f32, workspace f32 of at least sampling_workspace_elems(B, V);
// B rows of parameters, each with temperature finite >= 0, top_k >= 0, top_p in [0, 1].
SamplingDims check_sample(const Tensor& tokens, const Tensor& logits, std::span<const RowSampling> rows,
                          const Tensor& workspace);

}  // namespace pthrun::kernels
