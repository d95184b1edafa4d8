#include "model/random_init.h"

#include <cmath>
#include <string>

#include "runtime/error.h"
#include "runtime/interrupt.h"

namespace pthrun {

namespace {

uint64_t mix(uint64_t z) {  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t hash_name(std::string_view name) {  // FNV-1a
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return h;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

void initial_values(std::string_view name, int64_t layers, uint64_t seed, std::span<float> values) {
  const bool gain = ends_with(name, "ln1_w") || ends_with(name, "ln2_w") || name == "lnf_w";
  const bool bias = ends_with(name, "_b");
  if (gain || bias) {
    for (float& v : values) v = gain ? 1.0f : 0.0f;
    return;
  }
  double std = 0.02;
  // Both projections that write into the residual stream: attention's and the MLP's.
  if (ends_with(name, "proj_w")) std /= std::sqrt(2.0 * static_cast<double>(layers));
  // Uniform on [-a, a] has standard deviation a / sqrt(3).
  const float scale = static_cast<float>(std * std::sqrt(3.0) * 2.0 / 16777216.0);
  const float offset = static_cast<float>(std * std::sqrt(3.0));
  const uint64_t base = mix(seed ^ hash_name(name));
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>(mix(base + i) >> 40) * scale - offset;
}

void initialize_weights(const Gpt2Weights& weights, const Gpt2Config& config, uint64_t seed) {
  auto fill = [&](const std::string& name, const Tensor& tensor) {
    if (!tensor.defined()) return;
    check_interrupt();
    Tensor host = Tensor::empty(tensor.shape(), DType::f32, cpu_device);
    initial_values(name, config.layers, seed, std::span<float>(host.data<float>(), static_cast<std::size_t>(host.numel())));
    tensor.copy_from(host);
  };
  // An int8 matrix is quantized from its f32 values, one matrix at a time.
  auto fill_matrix = [&](const std::string& name, const Tensor& values, const Tensor& scales) {
    if (values.dtype() != DType::i8) return fill(name, values);
    Tensor host = Tensor::empty(values.shape(), DType::f32, cpu_device);
    initial_values(name, config.layers, seed, std::span<float>(host.data<float>(), static_cast<std::size_t>(host.numel())));
    const kernels::LinearWeight q = kernels::quantize_int8({host, kernels::WeightLayout::out_in, Tensor(), 0}, weights.int8_group);
    values.copy_from(q.values);
    scales.copy_from(q.scales);
  };
  fill("wte", weights.wte);
  fill("wpe", weights.wpe);
  for (std::size_t l = 0; l < weights.layers.size(); ++l) {
    const Gpt2LayerWeights& w = weights.layers[l];
    const std::string p = str("h.", l, ".");
    fill(p + "ln1_w", w.ln1_w);
    fill(p + "ln1_b", w.ln1_b);
    fill_matrix(p + "qkv_w", w.qkv_w, w.qkv_s);
    fill(p + "qkv_b", w.qkv_b);
    fill_matrix(p + "proj_w", w.proj_w, w.proj_s);
    fill(p + "proj_b", w.proj_b);
    fill(p + "ln2_w", w.ln2_w);
    fill(p + "ln2_b", w.ln2_b);
    fill_matrix(p + "fc_w", w.fc_w, w.fc_s);
    fill(p + "fc_b", w.fc_b);
    fill_matrix(p + "fc_proj_w", w.fc_proj_w, w.fc_proj_s);
    fill(p + "fc_proj_b", w.fc_proj_b);
  }
  fill("lnf_w", weights.lnf_w);
  fill("lnf_b", weights.lnf_b);
  // A tied head of its own (the CPU's reduced-precision head) holds the embedding's values.
  if (weights.head.storage() != weights.wte.storage())
    fill_matrix(config.tied_head ? "wte" : "head", weights.head, weights.head_s);
}

}  // namespace pthrun
