// Causal multi-head attention over a KV cache.
//
// qkv rows hold [q | k | v], each C = NH * HS wide, heads contiguous within each (GPT-2's
// packing). A layer's cache is k_cache, v_cache of shape (B, NH, T_max, HS).
//
//   kv_cache_append(k_cache, v_cache, qkv, sequences, positions, NH, stream);
//       for each row n of qkv (N, 3C): its k and v go to sequence sequences[n] at position
//       positions[n] (both (N) int32 on the device); a row whose sequence is kSkipRow (-1)
//       writes nothing (a decode step's inactive rows leave their sequences untouched)
//   attention_prefill(out, qkv, k_cache, v_cache, pos0, NH, stream);
//       one sequence: qkv (T, 3C) are the queries at positions pos0 .. pos0+T-1 and the cache
//       is (NH, T_max, HS) (a select(0, b) of the batch cache) already holding positions
//       0 .. pos0+T-1; out (T, C): query t attends to positions 0 .. pos0+t, scaled by
//       1/sqrt(HS). Fused with an online softmax: no (T x T) matrix is materialised.
//   attention_decode(out, qkv, k_cache, v_cache, positions, NH, workspace, stream);
//       one new query per sequence: qkv (B, 3C), positions (B) int32, cache (B, NH, T_max, HS)
//       holding 0 .. positions[b]; out (B, C). Split along the sequence so that all
//       multiprocessors work at batch 1; partial results go to `workspace`, an f32 tensor of
//       at least attention_decode_workspace_elems(...) elements (preallocated by the caller,
//       so that decode never allocates and can be captured in a CUDA graph).
//
// All floating tensors share one dtype (f32, bf16, f16), except that on the CPU the caches of
// f32 activations may hold bf16 or f16 (appended rounded to nearest even); softmax and
// accumulation in f32.
#pragma once

#include <cstdint>

#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace pthrun::kernels {

// The sequence of a kv_cache_append row that must not be written.
inline constexpr int32_t kSkipRow = -1;

void kv_cache_append(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv,
                     const Tensor& sequences, const Tensor& positions, int num_heads, const Stream& stream);
void attention_prefill(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                       int64_t pos0, int num_heads, const Stream& stream);
void attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                      const Tensor& positions, int num_heads, const Tensor& workspace, const Stream& stream);
int64_t attention_decode_workspace_elems(int64_t batch, int num_heads, int64_t max_tokens, int64_t head_size);

namespace cpu {
void kv_cache_append(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv,
                     const Tensor& sequences, const Tensor& positions, int num_heads, const Stream& stream);
void attention_prefill(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                       int64_t pos0, int num_heads, const Stream& stream);
void attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                      const Tensor& positions, int num_heads, const Tensor& workspace, const Stream& stream);
}  // namespace cpu
namespace cuda {
void kv_cache_append(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv,
                     const Tensor& sequences, const Tensor& positions, int num_heads, const Stream& stream);
void attention_prefill(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                       int64_t pos0, int num_heads, const Stream& stream);
void attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                      const Tensor& positions, int num_heads, const Tensor& workspace, const Stream& stream);
}  // namespace cuda

}  // namespace pthrun::kernels
