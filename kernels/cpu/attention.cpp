// CPU references of causal attention over the KV cache (see kernels/attention.h): prefill
// (T queries of one sequence) and decode (one query per sequence).
//
// Each (query, head) is one work item: the scores against keys 0 .. L-1 (one row of L
// floats, never a T x T matrix), an exact softmax (max, then exponentials and their sum),
// then the weighted sum of value rows. Items are handed out to threads one at a time since
// causal rows differ in length. The CPU needs no split along the sequence, so decode leaves
// the workspace untouched (it is still checked, so a caller's bug shows on the CPU too).
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/attention.h"
#include "kernels/op_checks.h"
#include "kernels/cpu/cpu_util.h"
#include "kernels/element.h"
#include "runtime/error.h"

namespace pthrun::kernels::cpu {

namespace {

// Per-thread scratch: the score row, the query and the accumulator, all f32.
float* scratch(std::size_t n) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

// out (HS) = softmax(q . k_j / sqrt(HS), j < L) . v_j for one head; k and v hold the head's
// cache rows (L x HS, contiguous).
template <typename T>
void attend(T* out, const T* q_in, const T* k, const T* v, int64_t L, int64_t HS) {
  float* scores = scratch(static_cast<std::size_t>(L + 2 * HS));
  float* q = scores + L;
  float* acc = q + HS;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  for (int64_t c = 0; c < HS; ++c) q[c] = to_f32(q_in[c]) * scale;

  float max = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < L; ++j) {
    const T* krow = k + j * HS;
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < HS; ++c) s += q[c] * to_f32(krow[c]);
    scores[j] = s;
    max = s > max ? s : max;
  }
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < L; ++j) {
    scores[j] = exp_poly(scores[j] - max);
    sum += scores[j];
  }
  for (int64_t c = 0; c < HS; ++c) acc[c] = 0;
  for (int64_t j = 0; j < L; ++j) {
    const T* vrow = v + j * HS;
    const float p = scores[j];
#pragma omp simd
    for (int64_t c = 0; c < HS; ++c) acc[c] += p * to_f32(vrow[c]);
  }
  const float inv = 1.0f / sum;
  for (int64_t c = 0; c < HS; ++c) out[c] = from_f32<T>(acc[c] * inv);
}

}  // namespace

void attention_prefill(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                       int64_t pos0, int num_heads, const Stream& stream) {
  (void)stream;  // work on the CPU is synchronous
  const AttentionDims d = check_attention_prefill(out, qkv, k_cache, v_cache, pos0, num_heads);
  dispatch_float(out.dtype(), "attention_prefill", [&](auto tag) {
    using T = decltype(tag);
    T* o = static_cast<T*>(out.data_ptr());
    const T* x = static_cast<const T*>(qkv.data_ptr());
    const T* k = static_cast<const T*>(k_cache.data_ptr());
    const T* v = static_cast<const T*>(v_cache.data_ptr());
    // Longest rows first, so that the last items handed out are the short ones.
    parallel_items(d.N * d.NH, [&](int64_t item) {
      const int64_t t = d.N - 1 - item / d.NH, h = item % d.NH;
      const int64_t head = h * d.T_max * d.HS;
      attend(o + t * d.C + h * d.HS, x + t * 3 * d.C + h * d.HS, k + head, v + head, pos0 + t + 1, d.HS);
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
  dispatch_float(out.dtype(), "attention_decode", [&](auto tag) {
    using T = decltype(tag);
    T* o = static_cast<T*>(out.data_ptr());
    const T* x = static_cast<const T*>(qkv.data_ptr());
    const T* k = static_cast<const T*>(k_cache.data_ptr());
    const T* v = static_cast<const T*>(v_cache.data_ptr());
    parallel_items(d.B * d.NH, [&](int64_t item) {
      const int64_t b = item / d.NH, h = item % d.NH;
      const int64_t head = (b * d.NH + h) * d.T_max * d.HS;
      attend(o + b * d.C + h * d.HS, x + b * 3 * d.C + h * d.HS, k + head, v + head, int64_t{pos[b]} + 1, d.HS);
    });
  });
}

}  // namespace pthrun::kernels::cpu
