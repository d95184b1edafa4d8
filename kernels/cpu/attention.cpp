// CPU references of causal attention over the KV cache (see kernels/attention.h): prefill
// (T queries of one sequence) and decode (one query per sequence).
//
// The work item is a block of up to 32 consecutive queries of one head: their scores against
// the keys the last of them sees (one sgemm: a 32 x L block, never T x T), an exact softmax per
// row over that row's own keys (max, exponentials, sum; the keys it may not see get 0), then
// the probabilities times the values (a second sgemm). sgemm over a block of queries is what
// makes this as fast as PyTorch's batched matrix products; a dot product per query and key is
// two to three times slower. Items are handed out to threads one at a time since causal blocks
// differ in length; OpenBLAS runs single-threaded inside them (see cpu/matmul.cpp).
//
// Decode has one query per head: its time is that of reading the head's keys and values, which
// grow with the context (at position 1000 of gpt2-small, 73 MB a token against 0.5 GB of f32
// weights). So the scores are the keys (L x HS) times the query, and the output is the values
// weighted by the probabilities, both through the matrix-vector kernels of the linear layer
// (cpu/gemv.h), which stream the cache once in its own dtype at the memory's speed. A 16-bit
// cache of f32 activations (note [KV cache dtype] in model/gpt2.h) halves those bytes: the
// same kernels read it as they read 16-bit weights, widening in registers.
// Each head's keys and values are read in from memory first, by loads alone (the kernels'
// FetchFn), then attended to from the core's cache. A 16-prompt decode step of gpt2-small at
// positions 128-192 (15.7 MB of f32 cache a layer): attention 0.40-0.48 ms a layer read by the
// products themselves, 0.38-0.44 fetched first; the step 28.3-28.9 ms against 27.5-28.1
// (`pthrun generate`, 6 interleaved runs).
// The CPU needs no split along the sequence, so decode leaves the workspace untouched (it is
// still checked, so that a caller's bug shows on the CPU too).
#include "kernels/attention.h"

#include <cblas.h>

#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/gemv.h"
#include "kernels/cpu/kv_dispatch.h"
#include "kernels/cpu/vector_math.h"
#include "kernels/element.h"
#include "kernels/op_checks.h"
#include "runtime/checked_math.h"
#include "runtime/error.h"

namespace pthrun::kernels::cpu {

namespace {

constexpr int64_t kQueryBlock = 32;

// Per-thread scratch buffers, grown as needed and kept between calls.
struct Scratch {
  std::vector<float> q, scores, out, k, v;
  std::vector<uint16_t> q_hi, q_lo;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

float* grow(std::vector<float>& buffer, int64_t n) {
  if (buffer.size() < static_cast<std::size_t>(n)) buffer.resize(static_cast<std::size_t>(n));
  return buffer.data();
}

template <typename T>
constexpr GemvType gemv_type_of() {
  return std::is_same_v<T, float> ? kGemvF32 : std::is_same_v<T, bf16> ? kGemvBf16 : kGemvF16;
}

// Rows [0, L) of a head's keys or values (L x HS, contiguous) as f32: the cache itself when it
// is f32, else a copy widened by the level's kernels (as 16-bit weights are).
template <typename T>
const float* rows_f32(const T* rows, int64_t L, int64_t HS, std::vector<float>& buffer) {
  if constexpr (std::is_same_v<T, float>) {
    return rows;
  } else {
    float* f = grow(buffer, L * HS);
    GemvArgs a{};
    a.w = rows, a.I = HS, a.O = L;
    gemv_kernels(active_cpu_isa()).widen_rows[gemv_type_of<T>()](f, a, 0, L);
    return f;
  }
}

// Attention of nq consecutive queries of one head (rows q_stride apart in q, out_stride apart
// in out); query i sees keys [0, first_len + i) of the head's k and v rows. T: the
// activations' element type, Cache: the cache's.
template <typename T, typename Cache>
void attend_block(T* out, int64_t out_stride, const T* q, int64_t q_stride, const Cache* k, const Cache* v, int64_t nq,
                  int64_t first_len, int64_t HS) {
  Scratch& s = scratch();
  const int64_t L = first_len + nq - 1;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  float* qf = grow(s.q, nq * HS);
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t c = 0; c < HS; ++c) qf[i * HS + c] = to_f32(q[i * q_stride + c]) * scale;
  const float* kf = rows_f32(k, L, HS, s.k);
  const float* vf = rows_f32(v, L, HS, s.v);
  float* scores = grow(s.scores, nq * L);
  const int M = static_cast<int>(nq), N = static_cast<int>(L), K = static_cast<int>(HS);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, qf, K, kf, K, 0.0f, scores, N);

  for (int64_t i = 0; i < nq; ++i) {
    float* row = scores + i * L;
    const int64_t len = first_len + i;
    softmax_f32(row, len);
    for (int64_t j = len; j < L; ++j) row[j] = 0;
  }

  float* of = grow(s.out, nq * HS);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, scores, N, vf, K, 0.0f, of, K);
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t c = 0; c < HS; ++c) out[i * out_stride + c] = from_f32<T>(of[i * HS + c]);
}

// Attention of one query (HS values) over the first L keys and values of a head (L x HS
// each, contiguous): scores = K q / sqrt(HS), softmax, out = V^T p.
template <typename T, typename Cache>
void attend_one(T* out, const T* q, const Cache* k, const Cache* v, int64_t L, int64_t HS) {
  Scratch& s = scratch();
  const GemvKernels& kernels = gemv_kernels(active_cpu_isa());
  constexpr GemvType type = gemv_type_of<Cache>();
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  float* qf = grow(s.q, HS);
  for (int64_t c = 0; c < HS; ++c) qf[c] = to_f32(q[c]) * scale;
  float* scores = grow(s.scores, L);
  GemvArgs keys{};
  keys.x = qf, keys.N = 1, keys.I = HS, keys.O = L, keys.w = k, keys.out = scores;
  if (type == kGemvBf16 && kernels.bf16_pairs) {
    s.q_hi.resize(static_cast<std::size_t>(HS)), s.q_lo.resize(static_cast<std::size_t>(HS));
    split_bf16(qf, HS, s.q_hi.data(), s.q_lo.data());
    keys.x_hi = s.q_hi.data(), keys.x_lo = s.q_lo.data();
  }
  kernels.out_in[type](keys, {0, L});
  softmax_f32(scores, L);
  float* of = grow(s.out, HS);
  GemvArgs values{};
  values.x = scores, values.N = 1, values.I = L, values.O = HS, values.w = v, values.out = of;
  kernels.in_out[type](values, {0, HS});
  for (int64_t c = 0; c < HS; ++c) out[c] = from_f32<T>(of[c]);
}

}  // namespace

void attention_prefill(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache, int64_t pos0,
                       int num_heads, const Stream& stream) {
  (void)stream;  // work on the CPU is synchronous
  const AttentionDims d = check_attention_prefill(out, qkv, k_cache, v_cache, pos0, num_heads);
  use_single_threaded_blas();
  const int64_t blocks = ceil_div(d.N, kQueryBlock);
  dispatch_kv(out.dtype(), k_cache.dtype(), "attention_prefill", [&](auto tag, auto cache_tag) {
    using T = decltype(tag);
    using Cache = decltype(cache_tag);
    T* o = static_cast<T*>(out.data_ptr());
    const T* x = static_cast<const T*>(qkv.data_ptr());
    const Cache* k = static_cast<const Cache*>(k_cache.data_ptr());
    const Cache* v = static_cast<const Cache*>(v_cache.data_ptr());
    // Longest blocks first, so that the last items handed out are the short ones.
    parallel_items(blocks * d.NH, [&](int64_t item) {
      const int64_t t0 = (blocks - 1 - item / d.NH) * kQueryBlock, h = item % d.NH;
      const int64_t nq = std::min(kQueryBlock, d.N - t0);
      const int64_t head = h * d.T_max * d.HS;
      attend_block(o + t0 * d.C + h * d.HS, d.C, x + t0 * 3 * d.C + h * d.HS, 3 * d.C, k + head, v + head, nq,
                   pos0 + t0 + 1, d.HS);
    });
  });
}

void attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                      const Tensor& positions, int num_heads, const Tensor& workspace, const Stream& stream) {
  (void)stream;
  const AttentionDims d = check_attention_decode(out, qkv, k_cache, v_cache, positions, num_heads, workspace);
  const int32_t* pos = positions.data<int32_t>();
  for (int64_t b = 0; b < d.B; ++b)
    PTHRUN_CHECK(pos[b] >= 0 && pos[b] < d.T_max, "attention_decode: position ", pos[b], " of sequence ", b,
                 " is outside the cache's ", d.T_max, " positions");
  dispatch_kv(out.dtype(), k_cache.dtype(), "attention_decode", [&](auto tag, auto cache_tag) {
    using T = decltype(tag);
    using Cache = decltype(cache_tag);
    T* o = static_cast<T*>(out.data_ptr());
    const T* x = static_cast<const T*>(qkv.data_ptr());
    const Cache* k = static_cast<const Cache*>(k_cache.data_ptr());
    const Cache* v = static_cast<const Cache*>(v_cache.data_ptr());
    const FetchFn fetch = gemv_kernels(active_cpu_isa()).fetch;
    parallel_items(d.B * d.NH, [&](int64_t item) {
      const int64_t b = item / d.NH, h = item % d.NH;
      const int64_t head = (b * d.NH + h) * d.T_max * d.HS;
      const int64_t held_bytes = (int64_t{pos[b]} + 1) * d.HS * static_cast<int64_t>(sizeof(Cache));
      fetch(k + head, held_bytes);
      fetch(v + head, held_bytes);
      attend_one(o + b * d.C + h * d.HS, x + b * 3 * d.C + h * d.HS, k + head, v + head, int64_t{pos[b]} + 1, d.HS);
    });
  });
}

}  // namespace pthrun::kernels::cpu
