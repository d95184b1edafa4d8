#include "model/weights.h"

#include <string>
#include <utility>

#include "runtime/alloc_trace.h"
#include "runtime/checked_math.h"
#include "runtime/error.h"

namespace pthrun {

namespace {

// Every weight's shape and dtype, in one place (llm.c's fill_in_parameter_sizes).
struct WeightShape {
  Tensor* tensor;
  std::string name;
  Shape shape;
  DType dtype;
};

std::vector<WeightShape> weight_shapes(Gpt2Weights& w, const Gpt2Config& c, DType small_dtype, DType matrix_dtype) {
  const int64_t C = c.channels, V = c.vocab_size;
  const bool out_in = w.matrix_layout == kernels::WeightLayout::out_in;
  const int64_t G = w.int8_group;
  std::vector<WeightShape> shapes = {{&w.wte, "wte", {V, C}, small_dtype}, {&w.wpe, "wpe", {c.context, C}, small_dtype}};
  auto vector = [&](Tensor* t, std::string name, int64_t n) { shapes.push_back({t, std::move(name), {n}, small_dtype}); };
  auto matrix = [&](Tensor* t, Tensor* scales, const std::string& name, int64_t out, int64_t in) {
    shapes.push_back({t, name, out_in ? Shape{out, in} : Shape{in, out}, matrix_dtype});
    if (matrix_dtype == DType::i8)
      shapes.push_back({scales, name + "_scales", {out, kernels::int8_group_count(in, G)}, DType::f32});
  };
  for (int64_t l = 0; l < c.layers; ++l) {
    Gpt2LayerWeights& layer = w.layers[static_cast<std::size_t>(l)];
    const std::string p = str("h.", l, ".");
    vector(&layer.ln1_w, p + "ln1_w", C);
    vector(&layer.ln1_b, p + "ln1_b", C);
    matrix(&layer.qkv_w, &layer.qkv_s, p + "qkv_w", 3 * C, C);
    if (c.qkv_bias) vector(&layer.qkv_b, p + "qkv_b", 3 * C);
    matrix(&layer.proj_w, &layer.proj_s, p + "proj_w", C, C);
    vector(&layer.proj_b, p + "proj_b", C);
    vector(&layer.ln2_w, p + "ln2_w", C);
    vector(&layer.ln2_b, p + "ln2_b", C);
    matrix(&layer.fc_w, &layer.fc_s, p + "fc_w", 4 * C, C);
    vector(&layer.fc_b, p + "fc_b", 4 * C);
    matrix(&layer.fc_proj_w, &layer.fc_proj_s, p + "fc_proj_w", C, 4 * C);
    vector(&layer.fc_proj_b, p + "fc_proj_b", C);
  }
  vector(&w.lnf_w, "lnf_w", C);
  vector(&w.lnf_b, "lnf_b", C);
  // The head is (V, C) in every layout; tied, it is the embedding itself unless its dtype differs.
  if (!c.tied_head || matrix_dtype != small_dtype) {
    shapes.push_back({&w.head, "head", {V, C}, matrix_dtype});
    if (matrix_dtype == DType::i8) shapes.push_back({&w.head_s, "head_scales", {V, kernels::int8_group_count(C, G)}, DType::f32});
  }
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
  for (const Gpt2LayerWeights& l : layers)
    for (const Tensor* t : {&l.qkv_s, &l.proj_s, &l.fc_s, &l.fc_proj_s})
      if (t->defined()) total += t->nbytes();
  if (head_s.defined()) total += head_s.nbytes();
  return total;
}

std::vector<Tensor*> Gpt2Weights::fields() {
  std::vector<Tensor*> out = {&wte, &wpe, &lnf_w, &lnf_b, &head, &head_s};
  for (Gpt2LayerWeights& l : layers)
    for (Tensor* t : {&l.ln1_w, &l.ln1_b, &l.qkv_w, &l.qkv_b, &l.proj_w, &l.proj_b, &l.ln2_w, &l.ln2_b, &l.fc_w,
                      &l.fc_b, &l.fc_proj_w, &l.fc_proj_b, &l.qkv_s, &l.proj_s, &l.fc_s, &l.fc_proj_s})
      out.push_back(t);
  return out;
}

kernels::LinearWeight Gpt2Weights::matrix(const Tensor& values, const Tensor& scales) const {
  return {values, matrix_layout, scales, scales.defined() ? int8_group : 0};
}

kernels::LinearWeight Gpt2Weights::head_weight() const {
  return {head, kernels::WeightLayout::out_in, head_s, head_s.defined() ? int8_group : 0};
}

DType activation_dtype(Device device, DType weight_dtype) { return device.is_cuda() ? weight_dtype : DType::f32; }

Gpt2Weights allocate_weights(const Gpt2Config& config, kernels::WeightLayout matrix_layout,
                             Device device, DType dtype, const Stream& stream, bool reserve) {
  const DType small_dtype = activation_dtype(device, dtype);
  PTHRUN_CHECK(dtype != DType::i8 || device.is_cpu(), "int8 weights are for the CPU, not ", device.to_string());
  Gpt2Weights w;
  // int8 matrices are (O, I) whatever the checkpoint stores (the int8 products read rows).
  PTHRUN_CHECK(dtype != DType::i8 || matrix_layout == kernels::WeightLayout::out_in,
               "int8 weights are stored [out, in], not [in, out]");
  w.matrix_layout = matrix_layout;
  w.int8_group = dtype == DType::i8 ? kInt8Group : 0;
  w.layers.resize(static_cast<std::size_t>(config.layers));
  std::vector<WeightShape> shapes = weight_shapes(w, config, small_dtype, dtype);

  // The large tensors come from one segment: the device then holds the weights and (almost)
  // nothing more, instead of a 2 MiB-rounded segment per matrix.
  Allocator& allocator = device_allocator(device);
  uint64_t large_bytes = 0;
  for (const WeightShape& s : shapes) {
    const uint64_t bytes = round_up(static_cast<uint64_t>(shape_numel(s.shape)) * itemsize(s.dtype), 512);
    if (bytes > (1u << 20)) large_bytes = checked_add(large_bytes, bytes, "weights size");
  }
  AllocScope scope("weights");
  if (reserve) allocator.reserve(large_bytes, stream.id());
  for (WeightShape& s : shapes) {
    AllocScope tensor_scope(s.name);
    *s.tensor = Tensor::empty(s.shape, s.dtype, allocator, stream.id());
  }
  if (!w.head.defined()) w.head = w.wte;
  return w;
}

}  // namespace pthrun
