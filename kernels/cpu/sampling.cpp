// CPU reference of sample() (see kernels/sampling.h for the contract and
// kernels/sampling_rules.h for the exact arithmetic): the most direct reading of the rules,
// by sorting. The CUDA kernel reaches the same tokens without sorting, by radix selection, and
// the GPU tests compare the two.
// Compiled with -ffp-contract=off: the draw depends on exp_poly giving the same bits as on the
// GPU, which a fused multiply-add would change.
#include "kernels/sampling.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_util.h"
#include "kernels/op_checks.h"
#include "kernels/sampling_rules.h"

namespace pthrun::kernels::cpu {

namespace {

struct Candidate {
  uint32_t key;  // order_key(x)
  int32_t index;
  uint64_t weight;
};

// Ranking order: larger x first, then lower index.
bool ranks_before(const Candidate& a, const Candidate& b) { return a.key != b.key ? a.key > b.key : a.index < b.index; }

int32_t sample_row(const float* logits, int64_t V, const SamplingParams& params, float u) {
  const bool greedy = params.temperature == 0;
  const float temperature = greedy ? 1.0f : params.temperature;
  // Kept between calls: a fresh vocabulary-sized vector is a fresh mapping, whose page faults
  // cost more than the row's work.
  thread_local std::vector<uint32_t> keys;
  thread_local std::vector<Candidate> ranked;
  keys.resize(static_cast<std::size_t>(V));
  // Three plain loops, which the compiler vectorises: the keys, the largest, the first index
  // that has it (the lowest index wins ties).
  uint32_t* k = keys.data();
  for (int64_t i = 0; i < V; ++i) k[i] = order_key(scaled_logit(logits[i], temperature));
  uint32_t largest = 0;
  for (int64_t i = 0; i < V; ++i) largest = k[i] > largest ? k[i] : largest;
  int32_t best = 0;
  while (k[best] != largest) ++best;
  const float max_x = key_value(keys[best]);
  if (greedy || !std::isfinite(max_x)) return best;

  // Tokens of weight 0 are ranked after all others and can never be drawn, whatever top-k
  // and top-p keep: only the others are ranked.
  ranked.clear();
  for (int64_t i = 0; i < V; ++i) {
    const uint64_t w = fixed_weight(key_value(keys[i]), max_x);
    if (w > 0) ranked.push_back({keys[i], static_cast<int32_t>(i), w});
  }
  const bool top_k = params.top_k > 0 && static_cast<std::size_t>(params.top_k) < ranked.size();
  const bool top_p = params.top_p < 1;
  if (top_k || top_p) {
    const std::size_t k = top_k ? static_cast<std::size_t>(params.top_k) : ranked.size();
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(k), ranked.end(), ranks_before);
    ranked.resize(k);
    if (top_p) {
      uint64_t total = 0;
      for (const Candidate& c : ranked) total += c.weight;
      const uint64_t target = top_p_target(params.top_p, total);
      uint64_t sum = 0;
      std::size_t keep = 0;
      while (sum < target) sum += ranked[keep++].weight;
      ranked.resize(keep);
    }
    std::sort(ranked.begin(), ranked.end(), [](const Candidate& a, const Candidate& b) { return a.index < b.index; });
  }
  uint64_t total = 0;
  for (const Candidate& c : ranked) total += c.weight;
  const uint64_t r = draw_target(u, total);
  uint64_t sum = 0;
  for (const Candidate& c : ranked) {
    sum += c.weight;
    if (sum > r) return c.index;
  }
  return ranked.back().index;  // unreachable: the sum reaches total > r
}

}  // namespace

void sample(const Tensor& tokens, const Tensor& logits, std::span<const RowSampling> rows, const Tensor& workspace,
            const Stream& stream) {
  (void)stream;  // work on the CPU is synchronous
  const SamplingDims d = check_sample(tokens, logits, rows, workspace);
  const float* l = logits.data<float>();
  int32_t* out = tokens.data<int32_t>();
  // Rows are independent: a batched decode step samples them on all threads.
  parallel_items(d.B, [&](int64_t b) {
    const RowSampling& row = rows[static_cast<std::size_t>(b)];
    out[b] = sample_row(l + b * d.V, d.V, row.params, sampling_uniform(row.seed, row.step, row.stream));
  });
}

}  // namespace pthrun::kernels::cpu
