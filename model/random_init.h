// GPT-2-like initial weights, reproducible from a seed, for benchmarks and `pthrun init`:
// matrices and embeddings with standard deviation 0.02, the two residual projections of each
// block scaled by 1/sqrt(2L) (GPT-2's scheme), biases zero, LayerNorm gains one.
//
//   std::vector<float> values(n);
//   initial_values("h.3.qkv_w", config.layers, seed, values);
//
// Values are uniform with the right standard deviation rather than normal: as good for
// timing and memory studies, and each element is a pure function of (seed, weight name,
// index), so a model comes out the same however it is built (in parallel, tensor by tensor,
// on any device).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "model/config.h"
#include "model/weights.h"

namespace pthrun {

// `name` is a weight's name as allocate_weights() labels it: "wte", "wpe", "h.<l>.qkv_w",
// "h.<l>.ln1_w", "lnf_b", "head", ...
void initial_values(std::string_view name, int64_t layers, uint64_t seed, std::span<float> values);

// Fills every weight of `weights` (on any device) from `seed`.
void initialize_weights(const Gpt2Weights& weights, const Gpt2Config& config, uint64_t seed);

}  // namespace pthrun
