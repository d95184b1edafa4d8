#include "kernels/op_checks.h"

#include <cmath>

#include "kernels/attention.h"
#include "kernels/kernel_check.h"
#include "runtime/error.h"

namespace pthrun::kernels {

namespace {

// Fills NH, HS, C, T_max from a cache of `dims` dimensions ((NH, T_max, HS) or
// (B, NH, T_max, HS)) and checks its twin and the head count.
AttentionDims check_caches(const char* op, const Tensor& k_cache, const Tensor& v_cache, int num_heads, int dims,
                           const Tensor& like) {
  check_float(op, "k_cache", k_cache, like.device());
  const DType cache = k_cache.dtype(), activations = like.dtype();
  PTHRUN_CHECK(cache == activations || (activations == DType::f32 && (cache == DType::bf16 || cache == DType::f16)),
               op, ": k_cache has dtype ", dtype_name(cache), " for activations of dtype ", dtype_name(activations),
               ", expected ", dtype_name(activations), activations == DType::f32 ? ", bfloat16 or float16" : "");
  check_tensor(op, "v_cache", v_cache, like.device(), cache);
  PTHRUN_CHECK(k_cache.dim() == dims, op, ": k_cache has shape ", k_cache.shape().to_string(), ", expected ",
               dims == 4 ? "(B, NH, T_max, HS)" : "(NH, T_max, HS)");
  check_shape(op, "v_cache", v_cache, k_cache.shape());
  PTHRUN_CHECK(!overlaps(k_cache, v_cache), op, ": k_cache and v_cache overlap");
  AttentionDims d;
  const int first = dims == 4 ? 1 : 0;
  d.B = dims == 4 ? k_cache.size(0) : 1;
  d.NH = k_cache.size(first);
  d.T_max = k_cache.size(first + 1);
  d.HS = k_cache.size(first + 2);
  d.C = d.NH * d.HS;
  PTHRUN_CHECK(num_heads > 0 && d.NH == num_heads, op, ": the cache has ", d.NH, " heads, but num_heads is ",
               num_heads);
  PTHRUN_CHECK(d.HS > 0, op, ": head size 0");
  return d;
}

void check_qkv(const char* op, const Tensor& qkv, const AttentionDims& d, const Tensor& like) {
  check_tensor(op, "qkv", qkv, like.device(), like.dtype());
  PTHRUN_CHECK(qkv.dim() == 2 && qkv.size(1) == 3 * d.C, op, ": qkv has shape ", qkv.shape().to_string(),
               ", expected (N, ", 3 * d.C, ") for ", d.NH, " heads of size ", d.HS);
}

void check_norm_params(const char* op, const Tensor& out, const Tensor& weight, const Tensor& bias, float eps) {
  check_float(op, "out", out, out.device());
  const int64_t C = check_rows(op, "out", out);
  PTHRUN_CHECK(C > 0, op, ": rows of length 0 cannot be normalised");
  check_tensor(op, "weight", weight, out.device(), out.dtype());
  check_tensor(op, "bias", bias, out.device(), out.dtype());
  check_shape(op, "weight", weight, {C});
  check_shape(op, "bias", bias, {C});
  PTHRUN_CHECK(eps >= 0 && std::isfinite(eps), op, ": eps is ", eps, ", expected a finite value >= 0");
}
}  // namespace

EmbeddingDims check_embedding(const Tensor& out, const Tensor& tokens, const Tensor& positions, const Tensor& wte,
                              const Tensor& wpe) {
  const char* op = "embedding";
  const Device device = out.device();
  check_float(op, "out", out, device);
  PTHRUN_CHECK(out.dim() == 2, op, ": out has shape ", out.shape().to_string(), ", expected (N, C)");
  const int64_t N = out.size(0), C = out.size(1);
  check_tensor(op, "tokens", tokens, device, DType::i32);
  check_tensor(op, "positions", positions, device, DType::i32);
  check_shape(op, "tokens", tokens, {N});
  check_shape(op, "positions", positions, {N});
  check_tensor(op, "wte", wte, device, out.dtype());
  check_tensor(op, "wpe", wpe, device, out.dtype());
  PTHRUN_CHECK(wte.dim() == 2 && wte.size(1) == C, op, ": wte has shape ", wte.shape().to_string(), ", expected (V, ",
               C, ")");
  PTHRUN_CHECK(wpe.dim() == 2 && wpe.size(1) == C, op, ": wpe has shape ", wpe.shape().to_string(),
               ", expected (T_max, ", C, ")");
  PTHRUN_CHECK(!overlaps(out, wte) && !overlaps(out, wpe), op, ": out overlaps a table");
  return {N, C, wte.size(0), wpe.size(0)};
}

int64_t check_layernorm(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  const char* op = "layernorm";
  check_norm_params(op, out, weight, bias, eps);
  check_tensor(op, "x", x, out.device(), out.dtype());
  check_shape(op, "x", x, out.shape());
  check_alias(op, "out", out, "x", x);
  return out.size(-1);
}

int64_t check_residual_layernorm(const Tensor& residual, const Tensor& out, const Tensor& delta, const Tensor& weight,
                                 const Tensor& bias, float eps) {
  const char* op = "residual_layernorm";
  check_norm_params(op, out, weight, bias, eps);
  check_tensor(op, "residual", residual, out.device(), out.dtype());
  check_tensor(op, "delta", delta, out.device(), out.dtype());
  check_shape(op, "residual", residual, out.shape());
  check_shape(op, "delta", delta, out.shape());
  PTHRUN_CHECK(!overlaps(residual, out), op, ": residual and out overlap");
  PTHRUN_CHECK(!overlaps(residual, delta), op, ": residual and delta overlap");
  check_alias(op, "out", out, "delta", delta);
  return out.size(-1);
}

LinearDims check_linear(const Tensor& out, const Tensor& x, const LinearWeight& weight, const Tensor& bias) {
  const char* op = "linear";
  const Device device = out.device();
  check_float(op, "x", x, device);
  PTHRUN_CHECK(x.dim() == 2, op, ": x has shape ", x.shape().to_string(), ", expected (N, I)");
  const int64_t N = x.size(0), I = x.size(1);
  const Tensor& w = weight.values;
  if (is_mixed_precision(x, weight)) {
    PTHRUN_CHECK(x.dtype() == DType::f32, op, ": weight has dtype ", dtype_name(w.dtype()), " and x ",
                 dtype_name(x.dtype()), ", expected both of one dtype, or x float32");
    const DType d = w.dtype();
    PTHRUN_CHECK(d == DType::bf16 || d == DType::f16 || d == DType::i8, op, ": weight has dtype ", dtype_name(d),
                 ", expected float32, bfloat16, float16 or int8");
    check_tensor(op, "weight", w, device, d);
  } else {
    check_tensor(op, "weight", w, device, x.dtype());
  }
  PTHRUN_CHECK(w.dim() == 2, op, ": weight has shape ", w.shape().to_string(), ", expected 2-D");
  const bool out_in = weight.layout == WeightLayout::out_in;
  const int64_t O = out_in ? w.size(0) : w.size(1);
  PTHRUN_CHECK((out_in ? w.size(1) : w.size(0)) == I, op, ": weight has shape ", w.shape().to_string(), ", expected ",
               out_in ? "(O, " : "(", I, out_in ? ")" : ", O)", " for x of shape ", x.shape().to_string(),
               out_in ? " (layout out_in)" : " (layout in_out)");
  if (w.dtype() == DType::i8) {
    PTHRUN_CHECK(out_in, op, ": an int8 weight is stored (O, I) (layout out_in), not in_out");
    PTHRUN_CHECK(weight.group > 0 && weight.group % 16 == 0, op, ": int8 group is ", weight.group,
                 ", expected a positive multiple of 16");
    check_tensor(op, "scales", weight.scales, device, DType::f32);
    check_shape(op, "scales", weight.scales, {O, int8_group_count(I, weight.group)});
  } else {
    PTHRUN_CHECK(!weight.scales.defined(), op, ": scales given for a weight of dtype ", dtype_name(w.dtype()),
                 " (only int8 weights have scales)");
  }
  PTHRUN_CHECK(out.dtype() == x.dtype() || out.dtype() == DType::f32, op, ": out has dtype ", dtype_name(out.dtype()),
               ", expected ", x.dtype() == DType::f32 ? "" : str(dtype_name(x.dtype()), " or "), "float32");
  check_float(op, "out", out, device);
  check_shape(op, "out", out, {N, O});
  PTHRUN_CHECK(!overlaps(out, x) && !overlaps(out, w) && !(weight.scales.defined() && overlaps(out, weight.scales)), op,
               ": out overlaps an input");
  if (bias.defined()) {
    check_tensor(op, "bias", bias, device, x.dtype());
    check_shape(op, "bias", bias, {O});
  }
  PTHRUN_CHECK(N <= INT32_MAX && I <= INT32_MAX && O <= INT32_MAX, op, ": dimensions (", N, ", ", I, ", ", O,
               ") exceed 2^31 - 1");
  return {N, I, O};
}

bool is_mixed_precision(const Tensor& x, const LinearWeight& weight) {
  return weight.values.defined() && x.defined() && weight.values.dtype() != x.dtype();
}

AttentionDims check_kv_cache_append(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv,
                                    const Tensor& sequences, const Tensor& positions, int num_heads) {
  const char* op = "kv_cache_append";
  check_float(op, "qkv", qkv, k_cache.device());
  AttentionDims d = check_caches(op, k_cache, v_cache, num_heads, 4, qkv);
  check_qkv(op, qkv, d, qkv);
  d.N = qkv.size(0);
  check_tensor(op, "sequences", sequences, k_cache.device(), DType::i32);
  check_tensor(op, "positions", positions, k_cache.device(), DType::i32);
  check_shape(op, "sequences", sequences, {d.N});
  check_shape(op, "positions", positions, {d.N});
  PTHRUN_CHECK(!overlaps(qkv, k_cache) && !overlaps(qkv, v_cache), op, ": qkv overlaps the cache");
  return d;
}

AttentionDims check_attention_prefill(const Tensor& out, const Tensor& qkv, const Tensor& k_cache,
                                      const Tensor& v_cache, int64_t pos0, int num_heads) {
  const char* op = "attention_prefill";
  check_float(op, "out", out, out.device());
  AttentionDims d = check_caches(op, k_cache, v_cache, num_heads, 3, out);
  check_qkv(op, qkv, d, out);
  d.N = qkv.size(0);
  check_shape(op, "out", out, {d.N, d.C});
  PTHRUN_CHECK(pos0 >= 0 && pos0 + d.N <= d.T_max, op, ": positions ", pos0, " .. ", pos0 + d.N - 1,
               " do not fit a cache of ", d.T_max, " positions");
  PTHRUN_CHECK(!overlaps(out, qkv) && !overlaps(out, k_cache) && !overlaps(out, v_cache), op,
               ": out overlaps an input");
  return d;
}

AttentionDims check_attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                                     const Tensor& positions, int num_heads, const Tensor& workspace) {
  const char* op = "attention_decode";
  check_float(op, "out", out, out.device());
  AttentionDims d = check_caches(op, k_cache, v_cache, num_heads, 4, out);
  check_qkv(op, qkv, d, out);
  d.N = qkv.size(0);
  PTHRUN_CHECK(d.N == d.B, op, ": qkv has ", d.N, " rows for a cache of ", d.B, " sequences");
  check_shape(op, "out", out, {d.B, d.C});
  check_tensor(op, "positions", positions, out.device(), DType::i32);
  check_shape(op, "positions", positions, {d.B});
  check_tensor(op, "workspace", workspace, out.device(), DType::f32);
  const int64_t need = attention_decode_workspace_elems(d.B, num_heads, d.T_max, d.HS);
  PTHRUN_CHECK(workspace.numel() >= need, op, ": workspace has ", workspace.numel(), " elements, expected at least ",
               need, " (attention_decode_workspace_elems)");
  PTHRUN_CHECK(!overlaps(out, qkv) && !overlaps(out, k_cache) && !overlaps(out, v_cache) && !overlaps(out, workspace),
               op, ": out overlaps an input or the workspace");
  return d;
}

SamplingDims check_sample(const Tensor& tokens, const Tensor& logits, std::span<const RowSampling> rows,
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
  PTHRUN_CHECK(static_cast<int64_t>(rows.size()) == d.B, op, ": ", rows.size(), " rows of sampling parameters for ",
               d.B, " rows of logits");
  for (const RowSampling& row : rows) {
    const SamplingParams& params = row.params;
    PTHRUN_CHECK(std::isfinite(params.temperature) && params.temperature >= 0, op, ": temperature is ",
                 params.temperature, ", expected a finite value >= 0 (0: greedy)");
    PTHRUN_CHECK(params.top_k >= 0, op, ": top_k is ", params.top_k, ", expected >= 0 (0: no limit)");
    PTHRUN_CHECK(params.top_p >= 0 && params.top_p <= 1, op, ": top_p is ", params.top_p,
                 ", expected a value in [0, 1] (1: no limit)");
  }
  return d;
}

}  // namespace pthrun::kernels
