#include "kernels/sampling_check.h"

#include <cmath>

#include "kernels/kernel_check.h"
#include "runtime/error.h"

namespace pthrun::kernels {

SamplingDims check_sample(const Tensor& tokens, const Tensor& logits, const SamplingParams& params,
                          const Tensor& workspace) {
  const char* op = "sample";
  const Device device = tokens.device();
  check_tensor(op, "tokens", tokens, device, DType::i32);
  check_tensor(op, "logits", logits, device, DType::f32);
  PTHRUN_CHECK(logits.dim() == 2 && logits.size(1) > 0, op, ": logits have shape ", logits.shape().to_string(),
               ", expected (B, V) with V > 0");
  const SamplingDims d{logits.size(0), logits.size(1)};
  check_shape(op, "tokens", tokens, {d.B});
  check_int32_range(op, "the vocabulary size", d.V);
  check_tensor(op, "workspace", workspace, device, DType::f32);
  const int64_t need = sampling_workspace_elems(d.B, d.V);
  PTHRUN_CHECK(workspace.numel() >= need, op, ": workspace has ", workspace.numel(), " elements, expected at least ",
               need, " (sampling_workspace_elems)");
  PTHRUN_CHECK(!overlaps(workspace, logits) && !overlaps(workspace, tokens) && !overlaps(tokens, logits), op,
               ": tokens, logits and workspace must not overlap");
  PTHRUN_CHECK(std::isfinite(params.temperature) && params.temperature >= 0, op, ": temperature is ",
               params.temperature, ", expected a finite value >= 0 (0: greedy)");
  PTHRUN_CHECK(params.top_k >= 0, op, ": top_k is ", params.top_k, ", expected >= 0 (0: no limit)");
  PTHRUN_CHECK(params.top_p >= 0 && params.top_p <= 1, op, ": top_p is ", params.top_p,
               ", expected a value in [0, 1] (1: no limit)");
  return d;
}

}  // namespace pthrun::kernels
