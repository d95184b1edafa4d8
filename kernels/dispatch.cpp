// The public kernel entry points: each routes to the CPU reference or the CUDA entry
// (cuda_entries.cpp, which hands the work to the CUDA backend) by the device of its output,
// after checking that the stream belongs to that device. Also the sizes of the caller-owned
// workspaces.
#include <algorithm>
#include <vector>

#include "kernels/attention.h"
#include "kernels/decode_split.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/op_checks.h"
#include "kernels/sampling.h"
#include "runtime/checked_math.h"
#include "runtime/error.h"

namespace pthrun::kernels {

namespace {

void check_stream(const char* op, Device device, const Stream& stream) {
  PTHRUN_CHECK(stream.device() == device, op, ": the stream is on ", stream.device().to_string(),
               " but the output is on ", device.to_string());
}

}  // namespace

// Calls cpu::OP or cuda::OP with the arguments, by DEVICE.
#define PTHRUN_ROUTE(OP, DEVICE, STREAM, ...) \
  do {                                        \
    check_stream(#OP, DEVICE, STREAM);        \
    if ((DEVICE).is_cpu())                    \
      cpu::OP(__VA_ARGS__);                   \
    else                                      \
      cuda::OP(__VA_ARGS__);                  \
  } while (0)

void embedding(const Tensor& out, const Tensor& tokens, const Tensor& positions, const Tensor& wte, const Tensor& wpe,
               const Stream& stream) {
  PTHRUN_ROUTE(embedding, out.device(), stream, out, tokens, positions, wte, wpe, stream);
}

void layernorm(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
               const Stream& stream) {
  PTHRUN_ROUTE(layernorm, out.device(), stream, out, x, weight, bias, eps, stream);
}

void residual_layernorm(const Tensor& residual, const Tensor& out, const Tensor& delta, const Tensor& weight,
                        const Tensor& bias, float eps, const Stream& stream) {
  PTHRUN_ROUTE(residual_layernorm, out.device(), stream, residual, out, delta, weight, bias, eps, stream);
}

void linear(const Tensor& out, const Tensor& x, const LinearWeight& weight, const Tensor& bias, Epilogue epilogue,
            const MatmulOptions& options, const Stream& stream) {
  check_stream("linear", out.device(), stream);
  if (out.device().is_cpu()) {
    cpu::linear(out, x, weight, bias, epilogue, options, stream);
    return;
  }
  // The GPU takes weights of x's dtype; f32 activations with bf16, f16 or int8 weights (and the
  // scales of int8) are the CPU's form.
  PTHRUN_CHECK(!is_mixed_precision(x, weight) && !weight.scales.defined(), "linear: weights of dtype ",
               dtype_name(weight.values.dtype()), " with activations of dtype ", dtype_name(x.dtype()),
               " run on the CPU only; on ", out.device().to_string(), " weights and activations share one dtype");
  cuda::linear(out, x, weight.values, weight.layout, bias, epilogue, options, stream);
}

void kv_cache_append(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv, const Tensor& sequences,
                     const Tensor& positions, int num_heads, const Stream& stream) {
  PTHRUN_ROUTE(kv_cache_append, k_cache.device(), stream, k_cache, v_cache, qkv, sequences, positions, num_heads,
               stream);
}

void attention_prefill(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache, int64_t pos0,
                       int num_heads, const Stream& stream) {
  PTHRUN_ROUTE(attention_prefill, out.device(), stream, out, qkv, k_cache, v_cache, pos0, num_heads, stream);
}

void attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                      const Tensor& positions, int num_heads, const Tensor& workspace, const Stream& stream) {
  PTHRUN_ROUTE(attention_decode, out.device(), stream, out, qkv, k_cache, v_cache, positions, num_heads, workspace,
               stream);
}

int64_t attention_decode_workspace_elems(int64_t batch, int num_heads, int64_t max_tokens, int64_t head_size) {
  PTHRUN_CHECK(batch >= 0 && num_heads >= 0 && max_tokens >= 0 && head_size >= 0,
               "attention_decode_workspace_elems: negative size");
  return checked_product({batch, num_heads, decode_max_splits(max_tokens), decode_partial_elems(head_size)},
                         "attention_decode workspace");
}

void sample(const Tensor& tokens, const Tensor& logits, std::span<const RowSampling> rows, const Tensor& workspace,
            const Stream& stream) {
  PTHRUN_ROUTE(sample, tokens.device(), stream, tokens, logits, rows, workspace, stream);
}

void sample(const Tensor& tokens, const Tensor& logits, const SamplingParams& params, uint64_t seed, uint64_t step,
            const Tensor& workspace, const Stream& stream) {
  std::vector<RowSampling> rows(static_cast<std::size_t>(std::max<int64_t>(logits.dim() > 0 ? logits.size(0) : 0, 0)));
  for (std::size_t b = 0; b < rows.size(); ++b) rows[b] = {params, seed, step, b};
  sample(tokens, logits, std::span<const RowSampling>(rows), workspace, stream);
}

int64_t sampling_workspace_elems(int64_t batch, int64_t vocab) {
  // The CUDA kernel keeps each row's ranking keys there (one 32-bit key per token), then the
  // rows' parameters, copied to the device.
  int64_t keys = checked_product({batch, vocab}, "sampling workspace");
  keys += keys % 2;  // the parameters start 8-byte aligned
  const int64_t params = checked_product({batch, ceil_div(sizeof(RowSampling), sizeof(float))},
                                         "sampling workspace");
  return checked_add(keys, params, "sampling workspace");
}

}  // namespace pthrun::kernels
