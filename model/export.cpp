#include "model/export.h"

#include "runtime/error.h"

namespace pthrun {

namespace {

using kernels::WeightLayout;

// `t` on the CPU in `dtype` with a storage of its own: itself when it already is.
Tensor own_copy(const Tensor& t, DType dtype) {
  if (t.device().is_cpu() && t.dtype() == dtype && t.is_contiguous() && t.storage_offset() == 0 &&
      t.storage()->nbytes() == t.nbytes())
    return t;
  Tensor out = Tensor::empty(t.shape(), dtype, cpu_device);
  out.copy_from(t);
  return out;
}

// GPTModel's causal mask buffer: ones above the diagonal (1 = masked).
Tensor causal_mask(int64_t context, DType dtype) {
  Tensor mask = Tensor::zeros({context, context}, DType::f32, cpu_device);
  float* m = mask.data<float>();
  for (int64_t i = 0; i < context; ++i)
    for (int64_t j = i + 1; j < context; ++j) m[i * context + j] = 1.0f;
  return own_copy(mask, dtype);
}

// The same weights with every block matrix viewed in `layout` (transposed views, no copies).
Gpt2Weights in_layout(const Gpt2Weights& weights, WeightLayout layout) {
  if (weights.matrix_layout == layout) return weights;
  Gpt2Weights out = weights;
  out.matrix_layout = layout;
  for (Gpt2LayerWeights& w : out.layers)
    for (Tensor* m : {&w.qkv_w, &w.proj_w, &w.fc_w, &w.fc_proj_w}) *m = m->transpose(0, 1);
  return out;
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> export_state_dict(const Gpt2Weights& weights, const Gpt2Config& config,
                                                              Naming naming, DType dtype) {
  PTHRUN_CHECK(is_floating(dtype), "export: ", dtype_name(dtype), " is not a floating dtype");
  PTHRUN_CHECK(weights.head.dtype() != DType::i8, "export: int8 weights cannot be exported; load the model in f32");
  PTHRUN_CHECK(naming == Naming::book || config.qkv_bias || !config.biases,
               "Hugging Face's GPT-2 has q/k/v biases; this model has none");
  const Gpt2Weights view = in_layout(weights, matrix_layout_of(naming));
  std::vector<std::pair<std::string, Tensor>> out;
  for (const StateDictEntry& e : state_dict_entries(naming, config)) {
    if (e.zero_filled) continue;  // bias=False: the model has no biases to write, as nanoGPT's file has none
    // A tied head shares the exported token embedding's storage, which comes first.
    Tensor t = e.tied_to_embedding ? out.front().second : own_copy(e.weight(view), dtype);
    out.emplace_back(e.name, std::move(t));
  }
  if (naming == Naming::book) {  // GPTModel's state dict also holds each block's causal mask
    for (int64_t l = 0; l < config.layers; ++l)
      out.emplace_back(str("trf_blocks.", l, ".att.mask"), causal_mask(config.context, dtype));
  }
  return out;
}

}  // namespace pthrun
