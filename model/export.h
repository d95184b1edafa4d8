// A model's weights as a state dict in the book's or Hugging Face's naming and layout: what
// `pthrun init` and `pthrun convert` write.
//
//   auto state_dict = export_state_dict(model.weights(), model.config(), Naming::hf, DType::f16);
//   save_state_dict("pytorch_model.bin", state_dict);
//
// Book: separate W_query/W_key/W_value, every matrix [out, in], the causal att.mask buffers
// GPTModel's state dict holds. Hugging Face: fused c_attn, Conv1D matrices [in, out]. A tied
// head is written as a second name for the embedding's storage (out_head or lm_head), as
// torch.save writes tied parameters. Every tensor is contiguous, on the CPU, in `dtype`; a
// weight that already is so is shared rather than copied, so exporting costs little memory.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "model/config.h"
#include "model/state_dict_layout.h"
#include "model/weights.h"
#include "runtime/dtype.h"

namespace pthrun {

std::vector<std::pair<std::string, Tensor>> export_state_dict(const Gpt2Weights& weights, const Gpt2Config& config,
                                                              Naming naming, DType dtype);

}  // namespace pthrun
