// The CUDA kernels' Tensor entries (kernels::cuda::*): each checks its arguments exactly as the
// CPU reference does (op_checks.h), refuses what the CUDA kernels cannot take with a message
// (sizes beyond 32-bit ints, heads above 128, grids beyond their limits), then hands raw
// pointers and sizes to the CUDA backend's launcher (cuda_plugin_api.h). Also the GEMM paths
// and the count of naive fallbacks (cuda_gemm.h).
#include <map>
#include <mutex>
#include <vector>

#include "kernels/attention.h"
#include "kernels/attention_limits.h"
#include "kernels/cuda_gemm.h"
#include "kernels/decode_split.h"
#include "kernels/embedding.h"
#include "kernels/kernel_check.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/op_checks.h"
#include "kernels/sampling.h"
#include "runtime/cuda_plugin.h"
#include "runtime/error.h"

namespace pthrun::kernels {

namespace {

int dtype_code(DType dtype) { return static_cast<int>(dtype); }

void check_heads(const char* op, const AttentionDims& d) {
  PTHRUN_CHECK(d.HS <= kCudaMaxHeadSize, op, ": head size ", d.HS, " is above the ", kCudaMaxHeadSize,
               " the CUDA kernel supports");
  PTHRUN_CHECK(d.NH <= kCudaMaxGridY, op, ": ", d.NH, " heads exceed the grid's limit of ", kCudaMaxGridY);
  check_int32_range(op, "the cache's positions", d.T_max);
  check_int32_range(op, "the row width", 3 * d.C);
}

// The CUDA kernels read and write the cache in the activations' dtype (no 16-bit cache of f32
// activations, which only the CPU keeps).
void check_cache_dtype(const char* op, const Tensor& cache, const Tensor& activations) {
  PTHRUN_CHECK(cache.dtype() == activations.dtype(), op, ": k_cache has dtype ", dtype_name(cache.dtype()),
               ", expected the activations' ", dtype_name(activations.dtype()), " on a GPU");
}

struct FallbackLog {
  std::mutex mutex;
  std::vector<GemmFallback> entries;
};
FallbackLog& fallback_log() {
  static FallbackLog log;
  return log;
}

void record_fallback(const GemmShape& shape) {
  FallbackLog& log = fallback_log();
  std::lock_guard lock(log.mutex);
  for (GemmFallback& f : log.entries)
    if (f.shape == shape) {
      ++f.count;
      return;
    }
  log.entries.push_back({shape, 1});
}

uint32_t alignment_of(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  uint32_t align = 256;
  while (align > 1 && address % align) align /= 2;
  return align;
}

PthrunCudaLinearArgs linear_args(Device device, const GemmShape& s) {
  PthrunCudaLinearArgs a{};
  a.device = device.index;
  a.dtype = dtype_code(s.dtype);
  a.out_dtype = dtype_code(s.out_dtype);
  a.out_in = s.layout == WeightLayout::out_in;
  a.gelu = !s.gelu ? PTHRUN_CUDA_GELU_NONE : s.gelu_erf ? PTHRUN_CUDA_GELU_ERF : PTHRUN_CUDA_GELU_TANH;
  a.tf32 = s.tf32;
  a.N = s.N;
  a.I = s.I;
  a.O = s.O;
  a.workspace_bytes = kGemmWorkspaceBytes;
  return a;
}

// The arguments both LayerNorms pass: out = LayerNorm(x) over rows of C.
PthrunCudaLayernormArgs layernorm_args(const char* kernel, int64_t C, const Tensor& out, const Tensor& x,
                                       const Tensor& weight, const Tensor& bias, float eps, const Stream& stream) {
  check_int32_range(kernel, "the row length", C);
  check_int32_range(kernel, "the number of rows", row_count(out));
  PthrunCudaLayernormArgs a{};
  a.device = out.device().index;
  a.dtype = dtype_code(out.dtype());
  a.out = out.data_ptr();
  a.x = x.data_ptr();
  a.weight = weight.data_ptr();
  a.bias = bias.data_ptr();
  a.rows = row_count(out);
  a.C = static_cast<int>(C);
  a.eps = eps;
  a.stream = stream.native();
  return a;
}

}  // namespace

void cuda::embedding(const Tensor& out, const Tensor& tokens, const Tensor& positions, const Tensor& wte,
                     const Tensor& wpe, const Stream& stream) {
  const EmbeddingDims d = check_embedding(out, tokens, positions, wte, wpe);
  check_int32_range("embedding", "the number of rows", d.N);
  check_int32_range("embedding", "the vocabulary size", d.V);
  check_int32_range("embedding", "the context size", d.T_max);
  check_int32_range("embedding", "the row length", d.C);
  PthrunCudaEmbeddingArgs a{};
  a.device = out.device().index;
  a.dtype = dtype_code(out.dtype());
  a.out = out.data_ptr();
  a.tokens = tokens.data<int32_t>();
  a.positions = positions.data<int32_t>();
  a.wte = wte.data_ptr();
  a.wpe = wpe.data_ptr();
  a.N = d.N;
  a.C = static_cast<int>(d.C);
  a.V = static_cast<int>(d.V);
  a.T_max = static_cast<int>(d.T_max);
  a.stream = stream.native();
  cuda_check(cuda_plugin().embedding(&a));
}

void cuda::layernorm(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                     const Stream& stream) {
  const int64_t C = check_layernorm(out, x, weight, bias, eps);
  PthrunCudaLayernormArgs a = layernorm_args("layernorm", C, out, x, weight, bias, eps, stream);
  cuda_check(cuda_plugin().layernorm(&a));
}

void cuda::residual_layernorm(const Tensor& residual, const Tensor& out, const Tensor& delta, const Tensor& weight,
                              const Tensor& bias, float eps, const Stream& stream) {
  const int64_t C = check_residual_layernorm(residual, out, delta, weight, bias, eps);
  PthrunCudaLayernormArgs a = layernorm_args("residual_layernorm", C, out, delta, weight, bias, eps, stream);
  a.residual = residual.data_ptr();
  cuda_check(cuda_plugin().layernorm(&a));
}

void cuda::linear(const Tensor& out, const Tensor& x, const Tensor& weight, WeightLayout layout, const Tensor& bias,
                  Epilogue epilogue, const MatmulOptions& options, const Stream& stream) {
  const LinearDims d = check_linear(out, x, LinearWeight{weight, layout, Tensor(), 0}, bias);
  if (out.numel() == 0) return;
  PTHRUN_CHECK(epilogue != Epilogue::gelu_erf || cuda_plugin().linear_gelu_erf,
               "linear: this CUDA backend has no exact (erf) GELU; use the plugin built with this pthrun");
  GemmShape shape{d.N, d.I, d.O, x.dtype(), out.dtype(), layout, bias.defined(), epilogue != Epilogue::none,
                  options.allow_tf32 && x.dtype() == DType::f32, alignment_of(out.data_ptr()),
                  epilogue == Epilogue::gelu_erf};
  PthrunCudaLinearArgs a = linear_args(out.device(), shape);
  a.out = out.data_ptr();
  a.x = x.data_ptr();
  a.weight = weight.data_ptr();
  a.bias = bias.defined() ? bias.data_ptr() : nullptr;
  a.workspace = stream.workspace(kGemmWorkspaceBytes);
  a.stream = stream.native();
  int path = PTHRUN_CUDA_LINEAR_FUSED;
  cuda_check(cuda_plugin().linear(&a, &path));
  if (path == PTHRUN_CUDA_LINEAR_NAIVE) record_fallback(shape);
}

void cuda::kv_cache_append(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv, const Tensor& sequences,
                           const Tensor& positions, int num_heads, const Stream& stream) {
  const AttentionDims d = check_kv_cache_append(k_cache, v_cache, qkv, sequences, positions, num_heads);
  const char* op = "kv_cache_append";
  check_cache_dtype(op, k_cache, qkv);
  check_int32_range(op, "the number of rows", d.N);
  check_int32_range(op, "the number of sequences", d.B);
  check_int32_range(op, "the cache's positions", d.T_max);
  check_int32_range(op, "the row width", 3 * d.C);
  PthrunCudaKvAppendArgs a{};
  a.device = k_cache.device().index;
  a.dtype = dtype_code(k_cache.dtype());
  a.k_cache = k_cache.data_ptr();
  a.v_cache = v_cache.data_ptr();
  a.qkv = qkv.data_ptr();
  a.sequences = sequences.data<int32_t>();
  a.positions = positions.data<int32_t>();
  a.N = d.N;
  a.B = static_cast<int>(d.B);
  a.NH = static_cast<int>(d.NH);
  a.T_max = static_cast<int>(d.T_max);
  a.HS = static_cast<int>(d.HS);
  a.stream = stream.native();
  cuda_check(cuda_plugin().kv_cache_append(&a));
}

void cuda::attention_prefill(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                             int64_t pos0, int num_heads, const Stream& stream) {
  const AttentionDims d = check_attention_prefill(out, qkv, k_cache, v_cache, pos0, num_heads);
  check_heads("attention_prefill", d);
  check_cache_dtype("attention_prefill", k_cache, out);
  PthrunCudaPrefillArgs a{};
  a.device = out.device().index;
  a.dtype = dtype_code(out.dtype());
  a.out = out.data_ptr();
  a.qkv = qkv.data_ptr();
  a.k_cache = k_cache.data_ptr();
  a.v_cache = v_cache.data_ptr();
  a.T = static_cast<int>(d.N);
  a.pos0 = static_cast<int>(pos0);
  a.NH = static_cast<int>(d.NH);
  a.HS = static_cast<int>(d.HS);
  a.T_max = static_cast<int>(d.T_max);
  a.stream = stream.native();
  cuda_check(cuda_plugin().attention_prefill(&a));
}

void cuda::attention_decode(const Tensor& out, const Tensor& qkv, const Tensor& k_cache, const Tensor& v_cache,
                            const Tensor& positions, int num_heads, const Tensor& workspace, const Stream& stream) {
  const AttentionDims d = check_attention_decode(out, qkv, k_cache, v_cache, positions, num_heads, workspace);
  check_heads("attention_decode", d);
  check_cache_dtype("attention_decode", k_cache, out);
  PTHRUN_CHECK(d.B <= kCudaMaxGridY, "attention_decode: ", d.B, " sequences exceed the grid's limit of ",
               kCudaMaxGridY);
  PthrunCudaDecodeArgs a{};
  a.device = out.device().index;
  a.dtype = dtype_code(out.dtype());
  a.out = out.data_ptr();
  a.workspace = workspace.data<float>();
  a.qkv = qkv.data_ptr();
  a.k_cache = k_cache.data_ptr();
  a.v_cache = v_cache.data_ptr();
  a.positions = positions.data<int32_t>();
  a.B = static_cast<int>(d.B);
  a.NH = static_cast<int>(d.NH);
  a.HS = static_cast<int>(d.HS);
  a.T_max = static_cast<int>(d.T_max);
  a.max_splits = static_cast<int>(decode_max_splits(d.T_max));
  a.stream = stream.native();
  cuda_check(cuda_plugin().attention_decode(&a));
}

void cuda::sample(const Tensor& tokens, const Tensor& logits, std::span<const RowSampling> rows,
                  const Tensor& workspace, const Stream& stream) {
  const SamplingDims d = check_sample(tokens, logits, rows, workspace);
  check_int32_range("sample", "the number of rows", d.B);
  // The rows' parameters live in the workspace after the keys: room for one RowSampling each.
  static_assert(sizeof(PthrunCudaSampleRow) <= sizeof(RowSampling));
  std::vector<PthrunCudaSampleRow> plain(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i)
    plain[i] = {rows[i].params.temperature, rows[i].params.top_k, rows[i].params.top_p, rows[i].seed, rows[i].step,
                rows[i].stream};
  PthrunCudaSampleArgs a{};
  a.device = tokens.device().index;
  a.tokens = tokens.data<int32_t>();
  a.logits = logits.data<float>();
  // The workspace is f32 by contract: the kernel keeps 32-bit keys in it, then the rows'
  // parameters, 8-byte aligned (sampling_workspace_elems rounds the keys up to an even count).
  float* base = workspace.data<float>();
  const int64_t key_elems = d.B * d.V;
  a.keys = reinterpret_cast<uint32_t*>(base);
  a.rows = plain.data();
  a.device_rows = reinterpret_cast<PthrunCudaSampleRow*>(base + key_elems + key_elems % 2);
  a.B = d.B;
  a.V = static_cast<int>(d.V);
  a.stream = stream.native();
  cuda_check(cuda_plugin().sample(&a));
}

std::string GemmShape::to_string() const {
  return str(dtype_short_name(dtype), " (", N, ", ", I, ") x ", layout == WeightLayout::out_in ? "(O, I) " : "(I, O) ",
             "O=", O, bias ? " +bias" : "", gelu ? (gelu_erf ? " +gelu_erf" : " +gelu") : "", tf32 ? " tf32" : "", " -> ",
             dtype_short_name(out_dtype), ", out aligned ", out_alignment);
}

const char* gemm_path_name(GemmPath path) {
  switch (path) {
    case GemmPath::fused:
      return "cuBLASLt";
    case GemmPath::epilogue:
      return "cuBLASLt + epilogue kernel";
    case GemmPath::naive:
      return "naive kernel";
  }
  return "?";
}

GemmPath gemm_path(Device device, const GemmShape& shape) {
  check_device(device);
  PTHRUN_CHECK(shape.out_alignment >= 1 && shape.out_alignment <= 256 && (shape.out_alignment & (shape.out_alignment - 1)) == 0,
               "gemm_path: out_alignment ", shape.out_alignment, " is not a power of two up to 256");
  PthrunCudaLinearArgs a = linear_args(device, shape);
  // Addresses with the alignments the shape describes; cuBLASLt's heuristic never reads them.
  constexpr uintptr_t kBase = 1 << 20;
  a.x = reinterpret_cast<const void*>(kBase);
  a.weight = reinterpret_cast<const void*>(2 * kBase);
  a.bias = shape.bias ? reinterpret_cast<const void*>(3 * kBase) : nullptr;
  a.out = reinterpret_cast<void*>(4 * kBase + (shape.out_alignment % 256));
  int path = PTHRUN_CUDA_LINEAR_FUSED;
  cuda_check(cuda_plugin().linear_path(&a, &path));
  return path == PTHRUN_CUDA_LINEAR_NAIVE ? GemmPath::naive
         : path == PTHRUN_CUDA_LINEAR_EPILOGUE ? GemmPath::epilogue
                                               : GemmPath::fused;
}

std::vector<GemmFallback> gemm_fallbacks() {
  FallbackLog& log = fallback_log();
  std::lock_guard lock(log.mutex);
  return log.entries;
}

int64_t gemm_fallback_count() {
  int64_t total = 0;
  for (const GemmFallback& f : gemm_fallbacks()) total += f.count;
  return total;
}

void reset_gemm_fallbacks() {
  FallbackLog& log = fallback_log();
  std::lock_guard lock(log.mutex);
  log.entries.clear();
}

}  // namespace pthrun::kernels
