// CPU sampling: greedy is the argmax with the lowest index on ties; top_k = 1 and a tiny
// top_p are greedy; a seed fixes the tokens; and over many draws the frequencies match the
// renormalised top-k/top-p distribution computed here in double, within 5 standard deviations.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/sampling.h"
#include "tests/kernel_test_util.h"

using namespace pthrun;
using namespace pthrun::kernels;
using pthrun::test::random_tensor;

namespace {

const Stream cpu_stream{cpu_device};

std::vector<int32_t> draw(const Tensor& logits, const SamplingParams& params, uint64_t seed, uint64_t step) {
  Tensor tokens = Tensor::empty({logits.size(0)}, DType::i32);
  tokens.fill_(-1);
  Tensor workspace = Tensor::empty({sampling_workspace_elems(logits.size(0), logits.size(1))}, DType::f32);
  sample(tokens, logits, params, seed, step, workspace, cpu_stream);
  const std::vector<double> t = tokens.to_doubles();
  return std::vector<int32_t>(t.begin(), t.end());
}

Tensor logits_of(const std::vector<float>& values, int64_t rows = 1) {
  return Tensor::from_vector(values, {rows, static_cast<int64_t>(values.size()) / rows});
}

// The distribution sample() draws from, in double: softmax of l / T over the top k, then
// the shortest prefix (most likely first) reaching top_p, renormalised.
std::vector<double> expected_distribution(const std::vector<float>& l, double T, int k, double top_p) {
  const std::size_t V = l.size();
  std::vector<std::size_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return l[a] > l[b]; });
  if (k > 0 && static_cast<std::size_t>(k) < V) order.resize(static_cast<std::size_t>(k));
  std::vector<double> p(V, 0.0);
  double z = 0;
  for (std::size_t i : order) z += std::exp((l[i] - l[order[0]]) / T);
  double cum = 0;
  std::size_t keep = 0;
  while (keep < order.size() && (keep == 0 || cum < top_p)) {
    cum += std::exp((l[order[keep]] - l[order[0]]) / T) / z;
    ++keep;
  }
  double kept = 0;
  for (std::size_t j = 0; j < keep; ++j) kept += (p[order[j]] = std::exp((l[order[j]] - l[order[0]]) / T) / z);
  for (double& x : p) x /= kept;
  return p;
}

}  // namespace

TEST_CASE("sampling_uniform: SplitMix64's published first output for seed 0, and [0, 1)") {
  // SplitMix64 from state 0 first returns 0xe220a8397b1dcdaf; its top 24 bits are 14819496.
  CHECK(sampling_uniform(0, 0, 0) == 14819496.0f / 16777216.0f);
  for (uint64_t i = 0; i < 1000; ++i) {
    const float u = sampling_uniform(12345, i, i % 7);
    CHECK(u >= 0.0f);
    CHECK(u < 1.0f);
  }
}

TEST_CASE("sample: greedy is the argmax, the lowest index on ties; NaN never wins") {
  const float nan = std::nanf(""), inf = INFINITY;
  const std::vector<float> rows = {1,    5,    3,   5,   -inf, nan,  // tie at 5: index 1
                                   nan,  nan,  nan, nan, nan,  nan,  // all NaN: index 0
                                   -inf, -inf, -2,  nan, -inf, -3,   // index 2
                                   0,    0,    0,   0,   0,    0};   // index 0
  const std::vector<int32_t> greedy = draw(logits_of(rows, 4), SamplingParams{}, 1, 0);
  CHECK(greedy == std::vector<int32_t>{1, 0, 2, 0});
}

TEST_CASE("sample: top_k = 1 and a tiny top_p are greedy; a seed fixes the tokens") {
  std::mt19937 rng(21);
  Tensor logits = random_tensor({6, 1000}, DType::f32, rng, -8, 8);
  const std::vector<int32_t> greedy = draw(logits, SamplingParams{}, 0, 0);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    CHECK(draw(logits, {.temperature = 0.9f, .top_k = 1}, seed, seed) == greedy);
    CHECK(draw(logits, {.temperature = 1.3f, .top_p = 1e-6f}, seed, seed) == greedy);
    CHECK(draw(logits, {.temperature = 1.3f, .top_k = 40, .top_p = 0.0f}, seed, seed) == greedy);
  }
  const SamplingParams params{.temperature = 1.5f, .top_k = 200, .top_p = 0.95f};
  std::vector<std::vector<int32_t>> runs;
  for (uint64_t step = 0; step < 8; ++step) {
    runs.push_back(draw(logits, params, 99, step));
    CHECK(draw(logits, params, 99, step) == runs.back());
  }
  // Different steps give different draws (at this temperature, 8 identical steps of 6 rows
  // would have probability far below 1e-9).
  CHECK(std::any_of(runs.begin(), runs.end(), [&](const auto& r) { return r != runs[0]; }));
}

TEST_CASE("sample: frequencies follow the renormalised top-k / top-p distribution") {
  const std::vector<float> l = {1.0f, 2.5f, 0.2f, 2.5f, -1.0f, 1.7f, 3.1f, -0.5f, 0.9f, 2.0f};
  for (const SamplingParams& params :
       {SamplingParams{.temperature = 1.0f}, SamplingParams{.temperature = 0.7f, .top_k = 6},
        SamplingParams{.temperature = 1.3f, .top_p = 0.8f},
        SamplingParams{.temperature = 0.8f, .top_k = 5, .top_p = 0.7f}}) {
    const std::vector<double> p = expected_distribution(l, params.temperature, params.top_k, params.top_p);
    const int64_t rows = 64, steps = 1500;  // 96000 draws: 64 rows of one batch per step
    std::vector<float> batch;
    for (int64_t r = 0; r < rows; ++r) batch.insert(batch.end(), l.begin(), l.end());
    Tensor logits = logits_of(batch, rows);
    std::vector<double> count(l.size(), 0.0);
    for (int64_t step = 0; step < steps; ++step)
      for (int32_t t : draw(logits, params, 2024, static_cast<uint64_t>(step))) count[static_cast<std::size_t>(t)] += 1;
    const double n = static_cast<double>(rows * steps);
    for (std::size_t i = 0; i < l.size(); ++i) {
      INFO("token ", i, " T=", params.temperature, " k=", params.top_k, " p=", params.top_p);
      if (p[i] == 0) {
        CHECK(count[i] == 0);  // filtered out: never drawn
      } else {
        const double sigma = std::sqrt(p[i] * (1 - p[i]) / n);
        CHECK(std::fabs(count[i] / n - p[i]) <= 5 * sigma);
      }
    }
  }
}

TEST_CASE("sample: bad parameters are refused") {
  Tensor logits = logits_of({1, 2, 3});
  // 3 keys (rounded up to 4, so that the parameters are 8-byte aligned) and one row of
  // parameters: a RowSampling of 40 bytes (12 of SamplingParams, 4 of padding, 3 x 8), 10 floats.
  static_assert(sizeof(RowSampling) == 40);
  CHECK(sampling_workspace_elems(1, 3) == 14);
  Tensor tokens = Tensor::empty({1}, DType::i32), workspace = Tensor::empty({14}, DType::f32);
  CHECK_THROWS_WITH(sample(tokens, logits, {.temperature = -1}, 0, 0, workspace, cpu_stream),
                    "sample: temperature is -1, expected a finite value >= 0 (0: greedy)");
  CHECK_THROWS_WITH(sample(tokens, logits, {.temperature = 1, .top_p = 1.5f}, 0, 0, workspace, cpu_stream),
                    "sample: top_p is 1.5, expected a value in [0, 1] (1: no limit)");
  CHECK_THROWS_WITH(sample(tokens, logits, {.top_k = -2}, 0, 0, workspace, cpu_stream),
                    "sample: top_k is -2, expected >= 0 (0: no limit)");
  CHECK_THROWS_WITH(sample(tokens, logits, {}, 0, 0, Tensor::empty({2}, DType::f32), cpu_stream),
                    "sample: workspace has 2 elements, expected at least 14 (sampling_workspace_elems)");
}

TEST_CASE("sample: a row's token depends on its own parameters, seed, step and stream, not on its place in the batch") {
  std::mt19937 rng(11);
  const int64_t V = 300;
  Tensor one = random_tensor({1, V}, DType::f32, rng, -4, 4);
  const std::vector<float> row = one.to_floats();
  const RowSampling how{{.temperature = 1.3f, .top_k = 100, .top_p = 0.97f}, 77, 5, 5};
  Tensor tokens = Tensor::empty({1}, DType::i32);
  sample(tokens, one, std::span<const RowSampling>(&how, 1),
         Tensor::empty({sampling_workspace_elems(1, V)}, DType::f32), cpu_stream);
  const double alone = tokens.to_doubles()[0];
  // The same row third in a batch of four, beside rows that sample otherwise.
  std::vector<float> batch;
  for (int r = 0; r < 4; ++r) {
    const Tensor other = random_tensor({1, V}, DType::f32, rng, -4, 4);
    const std::vector<float> values = r == 2 ? row : other.to_floats();
    batch.insert(batch.end(), values.begin(), values.end());
  }
  const std::vector<RowSampling> rows = {{{}, 1, 0, 0}, {{.temperature = 0.5f}, 77, 5, 2}, how, {{.top_k = 3}, 9, 9, 9}};
  Tensor batch_tokens = Tensor::empty({4}, DType::i32);
  sample(batch_tokens, logits_of(batch, 4), std::span(rows), Tensor::empty({sampling_workspace_elems(4, V)}, DType::f32),
         cpu_stream);
  CHECK(batch_tokens.to_doubles()[2] == alone);
  // The uniform differs by stream: rows that share a seed and step still draw independently.
  CHECK(sampling_uniform(77, 5, 2) != sampling_uniform(77, 5, 3));
}
