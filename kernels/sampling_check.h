// Argument checks of sample(), shared by the CPU reference and the CUDA entry.
#pragma once

#include <cstdint>

#include "kernels/sampling.h"

namespace pthrun::kernels {

struct SamplingDims {
  int64_t B = 0;  // rows
  int64_t V = 0;  // vocabulary
};

// tokens (B) i32, logits (B, V) f32, workspace f32 of at least sampling_workspace_elems(B, V),
// all on tokens' device; temperature >= 0, top_k >= 0, top_p in [0, 1], all finite.
SamplingDims check_sample(const Tensor& tokens, const Tensor& logits, const SamplingParams& params,
                          const Tensor& workspace);

}  // namespace pthrun::kernels
