// The arithmetic that defines which token sample() draws, shared by the CPU reference and
// the CUDA kernel so that both draw the same token from the same logits and seed.
//
// For one row of logits l (V) with temperature T > 0, top_k k and top_p p:
//   x_i = l_i / T (a NaN counts as -inf); tokens are ranked by x descending, then by index
//   ascending, which orders ties; order_key(x) is a 32-bit key that sorts like x.
//   top-k keeps the first k tokens of that ranking (k = 0 or k >= V: all).
//   w_i = fixed_weight(x_i, max x): e^(x_i - max) in fixed point with 40 fractional bits.
//   Integer sums are exact, so the sums below do not depend on the order in which a machine
//   adds, and the GPU's parallel sums equal the CPU's serial ones.
//   top-p keeps the shortest prefix of the ranking (among the top-k) whose weight reaches
//   top_p_target(p, Z_k), Z_k the top-k weight (p >= 1: all).
//   The draw: r = draw_target(u, Z), Z the kept weight and u = sampling_uniform(seed, step,
//   row); the token is the first kept one, in index order, at which the running sum of kept
//   weights exceeds r. Tokens of weight 0 (e^(x - max) < 2^-40) are never drawn.
// Greedy (T = 0) is the first token of the ranking of x = l / 1; a row whose largest x is
// infinite falls back to the first token of its own ranking.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/exp_poly.h"
#include "runtime/half.h"

namespace pthrun::kernels {

// 2^40: the weight of the most likely token.
inline constexpr float kSamplingWeightOne = 1099511627776.0f;

PTHRUN_HD float scaled_logit(float logit, float temperature) {
#if defined(__CUDA_ARCH__)
  const float x = __fdiv_rn(logit, temperature);
#else
  const float x = logit / temperature;
#endif
  return x != x ? -INFINITY : x;
}

// Unsigned key ordered like the float: flip all bits of negatives, the sign bit of the rest.
PTHRUN_HD uint32_t order_key(float x) {
  const uint32_t bits = float_bits(x);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

PTHRUN_HD float key_value(uint32_t key) { return bits_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key); }

PTHRUN_HD uint64_t fixed_weight(float x, float max_x) {
#if defined(__CUDA_ARCH__)
  const float d = __fsub_rn(x, max_x);
#else
  const float d = x - max_x;
#endif
  if (!(d > -87.0f)) return 0;  // below 2^-125: zero in 40-bit fixed point; also -inf
  // e <= 1 and the scale is a power of two: the product is exact, truncation drops the rest.
  return static_cast<uint64_t>(exp_poly(d) * kSamplingWeightOne);
}

// The top-p mass to reach: ceil(p * total), at least 1 and at most the total.
PTHRUN_HD uint64_t top_p_target(float top_p, uint64_t total) {
  const double want = static_cast<double>(top_p) * static_cast<double>(total);
  uint64_t target = want <= 1.0 ? 1 : static_cast<uint64_t>(want);
  if (static_cast<double>(target) < want) ++target;
  return target < total ? target : total;
}

// floor(u * total), below total: the running sum of the drawn token first exceeds this.
PTHRUN_HD uint64_t draw_target(float u, uint64_t total) {
  const uint64_t r = static_cast<uint64_t>(static_cast<double>(u) * static_cast<double>(total));
  return r < total ? r : total - 1;
}

}  // namespace pthrun::kernels
