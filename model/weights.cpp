#include "model/weights.h"

#include <string>
#include <utility>

#include "runtime/alloc_trace.h"
#include "runtime/checked_math.h"
#include "runtime/error.h"

namespace pthrun {

namespace {

struct WeightShape {
  Tensor* tensor;
  std::string name;
  Shape shape;
};

// Every weight's shape, in one place (llm.c's fill_in_parameter_sizes).
std::vector<WeightShape> weight_shapes(Gpt2Weights& w, const Gpt2Config& c) {
  const int64_t C = c.channels, V = c.vocab_size;
  const bool out_in = w.matrix_layout == kernels::WeightLayout::out_in;
  auto matrix = [&](int64_t out, int64_t in) { return out_in ? Shape{out, in} : Shape{in, out}; };
  std::vector<WeightShape> shapes = {{&w.wte, "wte", {V, C}}, {&w.wpe, "wpe", {c.context, C}}};
  for (int64_t l = 0; l < c.layers; ++l) {
    Gpt2LayerWeights& layer = w.layers[static_cast<std::size_t>(l)];
    const std::string p = str("h.", l, ".");
    shapes.push_back({&layer.ln1_w, p + "ln1_w", {C}});
    shapes.push_back({&layer.ln1_b, p + "ln1_b", {C}});
    shapes.push_back({&layer.qkv_w, p + "qkv_w", matrix(3 * C, C)});
    if (c.qkv_bias) shapes.push_back({&layer.qkv_b, p + "qkv_b", {3 * C}});
    shapes.push_back({&layer.proj_w, p + "proj_w", matrix(C, C)});
    shapes.push_back({&layer.proj_b, p + "proj_b", {C}});
    shapes.push_back({&layer.ln2_w, p + "ln2_w", {C}});
    shapes.push_back({&layer.ln2_b, p + "ln2_b", {C}});
    shapes.push_back({&layer.fc_w, p + "fc_w", matrix(4 * C, C)});
    shapes.push_back({&layer.fc_b, p + "fc_b", {4 * C}});
    shapes.push_back({&layer.fc_proj_w, p + "fc_proj_w", matrix(C, 4 * C)});
    shapes.push_back({&layer.fc_proj_b, p + "fc_proj_b", {C}});
  }
  shapes.push_back({&w.lnf_w, "lnf_w", {C}});
  shapes.push_back({&w.lnf_b, "lnf_b", {C}});
  if (!c.tied_head) shapes.push_back({&w.head, "head", {V, C}});
  return shapes;
}

}  // namespace

uint64_t Gpt2Weights::nbytes() const {
  uint64_t total = wte.nbytes() + wpe.nbytes() + lnf_w.nbytes() + lnf_b.nbytes();
  for (const Gpt2LayerWeights& l : layers)
    for (const Tensor* t : {&l.ln1_w, &l.ln1_b, &l.qkv_w, &l.qkv_b, &l.proj_w, &l.proj_b, &l.ln2_w,
                            &l.ln2_b, &l.fc_w, &l.fc_b, &l.fc_proj_w, &l.fc_proj_b})
      if (t->defined()) total += t->nbytes();
  if (head.defined() && head.storage() != wte.storage()) total += head.nbytes();
  return total;
}

Gpt2Weights allocate_weights(const Gpt2Config& config, kernels::WeightLayout matrix_layout,
                             Device device, DType dtype, const Stream& stream) {
  Gpt2Weights w;
  w.matrix_layout = matrix_layout;
  w.layers.resize(static_cast<std::size_t>(config.layers));
  std::vector<WeightShape> shapes = weight_shapes(w, config);

  // The large tensors come from one segment: the device then holds the weights and (almost)
  // nothing more, instead of a 2 MiB-rounded segment per matrix.
  Allocator& allocator = device_allocator(device);
  uint64_t large_bytes = 0;
  for (const WeightShape& s : shapes) {
    const uint64_t bytes = round_up(static_cast<uint64_t>(shape_numel(s.shape)) * itemsize(dtype), 512);
    if (bytes > (1u << 20)) large_bytes = checked_add(large_bytes, bytes, "weights size");
  }
  AllocScope scope("weights");
  allocator.reserve(large_bytes, stream.id());
  for (WeightShape& s : shapes) {
    AllocScope tensor_scope(s.name);
    *s.tensor = Tensor::empty(s.shape, dtype, allocator, stream.id());
  }
  if (config.tied_head) w.head = w.wte;
  return w;
}

}  // namespace pthrun
