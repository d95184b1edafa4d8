// What storing a checkpoint's matrices in bf16, f16 or int8 costs the products, measured with
// the kernels that run them (see tools/quantization_error.h).
#include "tools/quantization_error.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/linear_weight.h"
#include "kernels/matmul.h"
#include "loader/checkpoint.h"
#include "runtime/error.h"
#include "runtime/stream.h"

namespace pthrun::cli {

namespace {

using namespace pthrun::kernels;

struct Format {
  std::string name;
  DType dtype;
  int64_t group;  // int8: inputs per scale; 0: one group per output channel
};

// Hugging Face's Conv1D matrices are stored (in, out); every other matrix (out, in).
WeightLayout layout_of(const std::string& name) {
  const bool conv1d =
      name.starts_with("transformer.h.") &&
      (name.ends_with("c_attn.weight") || name.ends_with("c_proj.weight") || name.ends_with("c_fc.weight"));
  return conv1d ? WeightLayout::in_out : WeightLayout::out_in;
}

LinearWeight stored_as(const LinearWeight& w32, const Format& f) {
  if (f.dtype != DType::i8) return {w32.values.to(f.dtype), w32.layout, {}, 0};
  const int64_t group = f.group > 0 ? f.group : (w32.in_features() + 15) / 16 * 16;
  return quantize_int8(w32, group);
}

double squared_norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return s;
}

}  // namespace

int print_quantization_error(const std::string& checkpoint_path, int64_t rows) {
  const Checkpoint checkpoint = Checkpoint::open(checkpoint_path);
  const std::vector<Format> formats = {{"bf16", DType::bf16, 0},      {"f16", DType::f16, 0},
                                       {"int8 g32", DType::i8, 32},   {"int8 g64", DType::i8, 64},
                                       {"int8 g128", DType::i8, 128}, {"int8 per channel", DType::i8, 0}};
  const Stream cpu_stream{cpu_device};
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0, 1);
  std::vector<double> error_sum(formats.size()), worst(formats.size());
  double reference_sum = 0;
  int matrices = 0;
  std::printf("%-44s %-14s", "matrix", "shape");
  for (const Format& f : formats) std::printf(" %10s", f.name.c_str());
  std::printf("\n");
  for (const TensorInfo& info : checkpoint.state_dict()) {
    if (info.shape.size() != 2 || !is_floating(info.dtype) || info.name.find("pos") != std::string::npos ||
        info.name.find("mask") != std::string::npos || info.name.find("wpe") != std::string::npos)
      continue;
    const LinearWeight w32{checkpoint.read(info).to(DType::f32), layout_of(info.name), {}, 0};
    const int64_t I = w32.in_features(), O = w32.out_features();
    std::vector<float> xs(static_cast<std::size_t>(rows * I));
    for (float& v : xs) v = normal(rng);
    const Tensor x = Tensor::from_vector(xs, {rows, I});
    const Tensor reference = Tensor::empty({rows, O}, DType::f32);
    linear(reference, x, w32, Tensor(), Epilogue::none, {}, cpu_stream);
    const std::vector<double> ref = reference.to_doubles();
    const double ref_norm = squared_norm(ref);
    reference_sum += ref_norm;
    ++matrices;
    std::printf("%-44s %-14s", info.name.c_str(), info.shape.to_string().c_str());
    for (std::size_t k = 0; k < formats.size(); ++k) {
      const Tensor out = Tensor::empty({rows, O}, DType::f32);
      linear(out, x, stored_as(w32, formats[k]), Tensor(), Epilogue::none, {}, cpu_stream);
      std::vector<double> diff = out.to_doubles();
      for (std::size_t i = 0; i < diff.size(); ++i) diff[i] -= ref[i];
      const double e = squared_norm(diff);
      error_sum[k] += e;
      worst[k] = std::max(worst[k], std::sqrt(e / ref_norm));
      std::printf(" %10.2e", std::sqrt(e / ref_norm));
    }
    std::printf("\n");
  }
  PTHRUN_CHECK(matrices > 0, checkpoint_path, ": no matrices found");
  std::printf("%-59s", "all matrices: ||error|| / ||product||");
  for (std::size_t k = 0; k < formats.size(); ++k) std::printf(" %10.2e", std::sqrt(error_sum[k] / reference_sum));
  std::printf("\n%-59s", "worst matrix");
  for (double w : worst) std::printf(" %10.2e", w);
  std::printf("\n");
  return 0;
}

}  // namespace pthrun::cli
