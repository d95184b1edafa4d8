// Picking the next token from logits, on the device that holds them.
//
//   std::vector<RowSampling> rows = {{.params = {.temperature = 0.8f, .top_k = 50}, .seed = 7, .step = 0}};
//   sample(tokens, logits, rows, workspace, stream);
//       tokens (B) int32 <- one token per row of logits (B, V) (f32), row b drawn as rows[b] says
//   sample(tokens, logits, params, seed, step, workspace, stream);
//       the same for every row: row b is {params, seed, step, .stream = b}
//
// temperature 0 means greedy: the argmax, the lowest index on ties. Otherwise, as Hugging
// Face's generate() does: logits / temperature, then keep the top_k largest (0: all), then the
// smallest set of the most likely tokens whose probabilities sum to at least top_p (1: all;
// at least one token is always kept), renormalise, and draw. The draw for a row uses
// sampling_uniform(seed, step, stream) of that row, a counter-based random number: the same
// seed gives the same tokens on the CPU and on the GPU, whatever the launch order, and a row's
// token does not depend on which other rows share the batch or where it sits in it.
// `workspace` is an f32 tensor of at least sampling_workspace_elems(B, V) elements.
#pragma once

#include <cstdint>
#include <span>

#include "runtime/half.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace pthrun::kernels {

struct SamplingParams {
  float temperature = 0;
  int top_k = 0;
  float top_p = 1;
};

// How one row is drawn: its parameters and the coordinates of its random number. A request
// keeps its seed and stream and counts its own steps, so its tokens are the same alone or
// batched with others.
struct RowSampling {
  SamplingParams params;
  uint64_t seed = 0;
  uint64_t step = 0;    // tokens drawn before this one
  uint64_t stream = 0;  // tells apart rows that share a seed (prompts of one batch, choices of a request)
};

void sample(const Tensor& tokens, const Tensor& logits, std::span<const RowSampling> rows, const Tensor& workspace,
            const Stream& stream);
void sample(const Tensor& tokens, const Tensor& logits, const SamplingParams& params, uint64_t seed,
            uint64_t step, const Tensor& workspace, const Stream& stream);
int64_t sampling_workspace_elems(int64_t batch, int64_t vocab);

// A uniform number in [0, 1) from (seed, step, stream): splitmix64 of the three, top 24 bits.
PTHRUN_HD float sampling_uniform(uint64_t seed, uint64_t step, uint64_t stream) {
  uint64_t z = seed ^ (step * 0x9e3779b97f4a7c15ull) ^ (stream * 0xd1b54a32d192ed03ull);
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
}

namespace cpu {
void sample(const Tensor& tokens, const Tensor& logits, std::span<const RowSampling> rows, const Tensor& workspace,
            const Stream& stream);
}
namespace cuda {
void sample(const Tensor& tokens, const Tensor& logits, std::span<const RowSampling> rows, const Tensor& workspace,
            const Stream& stream);
}

}  // namespace pthrun::kernels
