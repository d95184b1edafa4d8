#include "model/export.h"

#include "runtime/error.h"

namespace pthrun {

namespace {

using kernels::WeightLayout;

// `t` on the CPU in `dtype` with a storage of its own: itself when it already is.
Tensor own_copy(const Tensor& t, DType dtype) {
  if (t.device().is_cpu() && t.dtype() == dtype && t.is_contiguous() && t.offset_elems() == 0 &&
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

// A matrix in the requested layout: the weights hold it in `stored`.
Tensor matrix(const Tensor& w, WeightLayout stored, WeightLayout wanted, DType dtype) {
  return own_copy(stored == wanted ? w : w.transpose(0, 1), dtype);
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> export_state_dict(const Gpt2Weights& weights, const Gpt2Config& config,
                                                              Naming naming, DType dtype) {
  PTHRUN_CHECK(is_floating(dtype), "export: ", dtype_name(dtype), " is not a floating dtype");
  const int64_t C = config.channels;
  const WeightLayout stored = weights.matrix_layout;
  std::vector<std::pair<std::string, Tensor>> out;
  auto add = [&](std::string name, Tensor t) { out.emplace_back(std::move(name), std::move(t)); };

  if (naming == Naming::book) {
    const WeightLayout want = WeightLayout::out_in;
    Tensor wte = own_copy(weights.wte, dtype);
    add("tok_emb.weight", wte);
    add("pos_emb.weight", own_copy(weights.wpe, dtype));
    for (std::size_t l = 0; l < weights.layers.size(); ++l) {
      const Gpt2LayerWeights& w = weights.layers[l];
      const std::string p = str("trf_blocks.", l, ".");
      // The fused q|k|v matrix, [3C, C]: its row blocks are the book's three projections.
      const Tensor qkv = stored == want ? w.qkv_w : w.qkv_w.transpose(0, 1);
      const char* parts[] = {"W_query", "W_key", "W_value"};
      for (int64_t i = 0; i < 3; ++i) {
        add(p + "att." + parts[i] + ".weight", own_copy(qkv.slice(0, i * C, (i + 1) * C), dtype));
        if (w.qkv_b.defined()) add(p + "att." + parts[i] + ".bias", own_copy(w.qkv_b.slice(0, i * C, (i + 1) * C), dtype));
      }
      add(p + "att.out_proj.weight", matrix(w.proj_w, stored, want, dtype));
      add(p + "att.out_proj.bias", own_copy(w.proj_b, dtype));
      add(p + "ff.layers.0.weight", matrix(w.fc_w, stored, want, dtype));
      add(p + "ff.layers.0.bias", own_copy(w.fc_b, dtype));
      add(p + "ff.layers.2.weight", matrix(w.fc_proj_w, stored, want, dtype));
      add(p + "ff.layers.2.bias", own_copy(w.fc_proj_b, dtype));
      add(p + "norm1.scale", own_copy(w.ln1_w, dtype));
      add(p + "norm1.shift", own_copy(w.ln1_b, dtype));
      add(p + "norm2.scale", own_copy(w.ln2_w, dtype));
      add(p + "norm2.shift", own_copy(w.ln2_b, dtype));
      add(p + "att.mask", causal_mask(config.context, dtype));
    }
    add("final_norm.scale", own_copy(weights.lnf_w, dtype));
    add("final_norm.shift", own_copy(weights.lnf_b, dtype));
    add("out_head.weight", config.tied_head ? wte : own_copy(weights.head, dtype));
    return out;
  }

  const WeightLayout want = WeightLayout::in_out;
  PTHRUN_CHECK(config.qkv_bias, "Hugging Face's GPT-2 has q/k/v biases; this model has none");
  Tensor wte = own_copy(weights.wte, dtype);
  add("transformer.wte.weight", wte);
  add("transformer.wpe.weight", own_copy(weights.wpe, dtype));
  for (std::size_t l = 0; l < weights.layers.size(); ++l) {
    const Gpt2LayerWeights& w = weights.layers[l];
    const std::string p = str("transformer.h.", l, ".");
    add(p + "ln_1.weight", own_copy(w.ln1_w, dtype));
    add(p + "ln_1.bias", own_copy(w.ln1_b, dtype));
    add(p + "attn.c_attn.weight", matrix(w.qkv_w, stored, want, dtype));
    add(p + "attn.c_attn.bias", own_copy(w.qkv_b, dtype));
    add(p + "attn.c_proj.weight", matrix(w.proj_w, stored, want, dtype));
    add(p + "attn.c_proj.bias", own_copy(w.proj_b, dtype));
    add(p + "ln_2.weight", own_copy(w.ln2_w, dtype));
    add(p + "ln_2.bias", own_copy(w.ln2_b, dtype));
    add(p + "mlp.c_fc.weight", matrix(w.fc_w, stored, want, dtype));
    add(p + "mlp.c_fc.bias", own_copy(w.fc_b, dtype));
    add(p + "mlp.c_proj.weight", matrix(w.fc_proj_w, stored, want, dtype));
    add(p + "mlp.c_proj.bias", own_copy(w.fc_proj_b, dtype));
  }
  add("transformer.ln_f.weight", own_copy(weights.lnf_w, dtype));
  add("transformer.ln_f.bias", own_copy(weights.lnf_b, dtype));
  add("lm_head.weight", config.tied_head ? wte : own_copy(weights.head, dtype));
  return out;
}

}  // namespace pthrun
