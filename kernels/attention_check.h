// Shape checks of the attention kernels, shared by the CPU references and the CUDA entries
// (see kernels/attention.h for the layouts).
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace pthrun::kernels {

// Sizes named as in the README's glossary.
struct AttentionDims {
  int64_t B = 1;      // sequences in the cache (1 for prefill's single-sequence view)
  int64_t NH = 0;     // heads
  int64_t HS = 0;     // head size
  int64_t C = 0;      // NH * HS
  int64_t T_max = 0;  // cache capacity in positions
  int64_t N = 0;      // rows of qkv
};

// k_cache, v_cache (B, NH, T_max, HS) and qkv (N, 3C), C = NH * HS, N = the number of rows.
AttentionDims check_kv_cache_append(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv,
                                    const Tensor& sequences, const Tensor& positions, int num_heads);
// out (T, C), qkv (T, 3C), caches (NH, T_max, HS), pos0 + T <= T_max.
AttentionDims check_attention_prefill(const Tensor& out, const Tensor& qkv, const Tensor& k_cache,
                                      const Tensor& v_cache, int64_t pos0, int num_heads);
// out (B, C), qkv (B, 3C), caches (B, NH, T_max, HS), positions (B) i32, workspace f32 with
// at least attention_decode_workspace_elems(B, NH, T_max, HS) elements.
AttentionDims check_attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache,
                                     const Tensor& v_cache, const Tensor& positions, int num_heads,
                                     const Tensor& workspace);

}  // namespace pthrun::kernels
