#include "model/gpt2_products.h"

namespace pthrun {

std::vector<kernels::GemmShape> gpt2_products(const Gpt2Config& config, DType dtype, kernels::WeightLayout layout,
                                              std::span<const int64_t> rows, bool tf32) {
  const int64_t C = config.channels, V = config.vocab_size;
  const bool f32_tf32 = tf32 && dtype == DType::f32;
  // The largest power of two, at most 256, dividing the byte offset of logits row 1.
  uint32_t row_alignment = 256;
  while (row_alignment > 1 && (V * 4) % row_alignment) row_alignment /= 2;
  std::vector<kernels::GemmShape> out;
  auto add = [&](int64_t N, int64_t I, int64_t O, bool bias, bool gelu, DType out_dtype, kernels::WeightLayout l,
                 uint32_t out_alignment) {
    out.push_back({N, I, O, dtype, out_dtype, l, bias, gelu, f32_tf32, out_alignment,
                   gelu && config.activation == Activation::gelu_erf});
  };
  for (const int64_t N : rows) {
    add(N, C, 3 * C, config.qkv_bias, false, dtype, layout, 256);  // q, k, v
    add(N, C, C, true, false, dtype, layout, 256);                 // attention projection
    add(N, C, 4 * C, true, true, dtype, layout, 256);              // MLP, GELU fused
    add(N, 4 * C, C, true, false, dtype, layout, 256);             // MLP projection
    // The head is stored (V, C), whatever the checkpoint's layout; logits are f32.
    add(N, C, V, false, false, DType::f32, kernels::WeightLayout::out_in, 256);
  }
  // Prefill writes its last position's logits into row `sequence` of the (B, V) buffer.
  add(1, C, V, false, false, DType::f32, kernels::WeightLayout::out_in, row_alignment);
  return out;
}

}  // namespace pthrun
