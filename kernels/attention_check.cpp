#include "kernels/attention_check.h"

#include "kernels/attention.h"
#include "kernels/kernel_check.h"
#include "runtime/error.h"

namespace pthrun::kernels {

namespace {

// Fills NH, HS, C, T_max from a cache of `dims` dimensions ((NH, T_max, HS) or
// (B, NH, T_max, HS)) and checks its twin and the head count.
AttentionDims check_caches(const char* op, const Tensor& k_cache, const Tensor& v_cache, int num_heads, int dims,
                           const Tensor& like) {
  check_tensor(op, "k_cache", k_cache, like.device(), like.dtype());
  check_tensor(op, "v_cache", v_cache, like.device(), like.dtype());
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

}  // namespace

AttentionDims check_kv_cache_append(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv,
                                    const Tensor& sequences, const Tensor& positions, int num_heads) {
  const char* op = "kv_cache_append";
  check_float(op, "k_cache", k_cache, k_cache.device());
  AttentionDims d = check_caches(op, k_cache, v_cache, num_heads, 4, k_cache);
  check_qkv(op, qkv, d, k_cache);
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

AttentionDims check_attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache,
                                     const Tensor& v_cache, const Tensor& positions, int num_heads,
                                     const Tensor& workspace) {
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
  PTHRUN_CHECK(!overlaps(out, qkv) && !overlaps(out, k_cache) && !overlaps(out, v_cache) &&
                   !overlaps(out, workspace),
               op, ": out overlaps an input or the workspace");
  return d;
}

}  // namespace pthrun::kernels
