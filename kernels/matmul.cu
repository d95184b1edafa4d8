// CUDA linear layer (see kernels/matmul.h) on cuBLASLt, f32 accumulation: the plugin's
// launcher behind the core's kernels::cuda::linear.
//
// Row-major to cuBLASLt's column-major: out (N, O) row-major is D = out^T (O x N), so
// D = W' . x^T with m = O, n = N, k = I. x (N, I) row-major is x^T (I x N) column-major:
// B, no transpose. W stored (O, I) (out_in) is (I x O) column-major: A with op = transpose;
// W stored (I, O) (in_out) is (O x I) column-major: A as it is. No weight is ever copied.
//
// Epilogues: cuBLASLt adds the bias when out has the operands' dtype, and applies the tanh GELU
// too when that dtype is bf16 or f16 (the exact, erf GELU of nanoGPT always runs as our kernel:
// cuBLASLt has none). Its GELU is the tanh approximation GPT-2 uses: NVIDIA's
// documentation only says "GELU", but PyTorch's addmm-with-GELU (aten/src/ATen/native/cuda/
// Blas.cpp) uses this epilogue and, where it cannot, falls back to gelu(approximate="tanh");
// llm.c's GPT-2 uses it the same way. How precisely it evaluates tanh is not documented either,
// so f32 outputs, which the tests hold to 1e-5 against the CPU, get GELU from our own kernel;
// in bf16 and f16 the output's rounding dwarfs any such difference. Whatever cuBLASLt did not
// apply (f32 logits from 16-bit operands, a shape with no algorithm for the epilogue) runs as a
// separate kernel; a shape cuBLASLt refuses altogether gets a plain one-thread-per-output kernel,
// and the launcher says so (PTHRUN_CUDA_LINEAR_NAIVE), so that the core counts every fallback
// (kernels/cuda_gemm.h).
#include <cuda_runtime.h>

#include "kernels/cublaslt.h"
#include "kernels/cuda_common.cuh"
#include "kernels/cuda_launchers.h"
#include "kernels/gelu.cuh"

namespace pthrun::kernels {

namespace {

using namespace cuda_detail;

constexpr int kThreads = 256;

// out (N, O) = x (N, I) . W, one thread per output, for the rare shapes cuBLASLt refuses.
template <typename T, typename Out>
__global__ void naive_linear_kernel(Out* out, const T* x, const T* w, int N, int I, int O, bool out_in) {
  const int64_t n_outputs = int64_t{N} * O;
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n_outputs;
       e += int64_t{gridDim.x} * blockDim.x) {
    const int64_t n = e / O, o = e % O;
    float sum = 0;
    for (int i = 0; i < I; ++i) sum += load(x + n * I + i) * load(w + (out_in ? o * I + i : int64_t{i} * O + o));
    store(out + e, sum);
  }
}

// out (N, O) = act(out + bias) for the products whose epilogue cuBLASLt did not run; `gelu`
// is a PthrunCudaGelu.
template <typename Out, typename Bias>
__global__ void linear_epilogue_kernel(Out* out, const Bias* bias, int64_t n, int64_t O, int gelu_form) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    float v = load(out + i) + (bias ? load(bias + i % O) : 0.0f);
    if (gelu_form == PTHRUN_CUDA_GELU_TANH) v = gelu(v);
    if (gelu_form == PTHRUN_CUDA_GELU_ERF) v = gelu_erf(v);
    store(out + i, v);
  }
}

template <typename Out, typename Bias>
void launch_linear_epilogue(Out* out, const Bias* bias, int64_t n, int64_t O, int gelu_form, cudaStream_t stream) {
  if (n == 0) return;
  linear_epilogue_kernel<<<grid_stride_blocks(n, kThreads), kThreads, 0, stream>>>(out, bias, n, O, gelu_form);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

template <typename T, typename Out>
void launch_naive_linear(Out* out, const T* x, const T* w, int N, int I, int O, bool out_in, cudaStream_t stream) {
  naive_linear_kernel<<<grid_stride_blocks(int64_t{N} * O, kThreads), kThreads, 0, stream>>>(out, x, w, N, I, O,
                                                                                              out_in);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

cudaDataType_t cuda_type(int dtype) {
  switch (static_cast<DType>(dtype)) {
    case DType::bf16:
      return CUDA_R_16BF;
    case DType::f16:
      return CUDA_R_16F;
    default:
      return CUDA_R_32F;
  }
}

cublasLtEpilogue_t fused_epilogue(bool bias, bool apply_gelu) {
  if (apply_gelu) return bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
  return bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
}

// The product as cuBLASLt sees it (see the top of this file), without epilogue.
LtProduct product_of(const PthrunCudaLinearArgs& a) {
  LtProduct p;
  p.m = a.O;
  p.n = a.N;
  p.k = a.I;
  p.transpose_a = a.out_in != 0;
  p.ab_type = cuda_type(a.dtype);
  p.d_type = cuda_type(a.out_dtype);
  p.tf32 = a.dtype == PTHRUN_CUDA_F32 && a.tf32;
  p.a = a.weight;
  p.b = a.x;
  p.d = a.out;
  p.workspace = a.workspace;
  p.workspace_bytes = a.workspace_bytes;
  return p;
}

// What cuBLASLt can fuse: the bias when out has the operands' dtype; the tanh GELU too when that
// dtype is 16-bit (see the top of this file).
struct Fusion {
  bool bias, gelu;
};
Fusion fusable(const PthrunCudaLinearArgs& a) {
  const bool same_dtype = a.out_dtype == a.dtype;
  return {same_dtype && a.bias, same_dtype && a.gelu == PTHRUN_CUDA_GELU_TANH && a.out_dtype != PTHRUN_CUDA_F32};
}

LtProduct with_epilogue(LtProduct p, Fusion f, const void* bias) {
  p.epilogue = fused_epilogue(f.bias, f.gelu);
  p.bias = f.bias ? bias : nullptr;
  return p;
}

}  // namespace

int linear_path(const PthrunCudaLinearArgs& a) {
  if (a.I == 0) return (a.bias || a.gelu) ? PTHRUN_CUDA_LINEAR_EPILOGUE : PTHRUN_CUDA_LINEAR_FUSED;  // a memset
  const LtProduct plain = product_of(a);
  const Fusion f = fusable(a);
  if ((f.bias || f.gelu) && lt_product_supported(a.device, with_epilogue(plain, f, a.bias)))
    return PTHRUN_CUDA_LINEAR_FUSED;
  if (lt_product_supported(a.device, plain))
    return (a.bias || a.gelu) ? PTHRUN_CUDA_LINEAR_EPILOGUE : PTHRUN_CUDA_LINEAR_FUSED;
  return PTHRUN_CUDA_LINEAR_NAIVE;
}

int launch_linear(const PthrunCudaLinearArgs& a) {
  if (a.N == 0 || a.O == 0) return PTHRUN_CUDA_LINEAR_FUSED;
  use_device(a.device);
  const cudaStream_t s = native(a.stream);
  Fusion fused{false, false};  // what cuBLASLt applied
  int path = PTHRUN_CUDA_LINEAR_FUSED;
  if (a.I == 0) {
    // An empty sum: the product is zero (cuBLASLt does not take k = 0).
    const std::size_t bytes = static_cast<std::size_t>(a.N * a.O) * itemsize(static_cast<DType>(a.out_dtype));
    PTHRUN_CUDA_CHECK(cudaMemsetAsync(a.out, 0, bytes, s));
  } else {
    const LtProduct plain = product_of(a);
    const Fusion f = fusable(a);
    if ((f.bias || f.gelu) && run_lt_product(a.device, s, with_epilogue(plain, f, a.bias))) fused = f;
    else if (!run_lt_product(a.device, s, plain)) {
      path = PTHRUN_CUDA_LINEAR_NAIVE;
      dispatch_float(a.out_dtype, "linear", [&](auto out_tag) {
        using Out = decltype(out_tag);
        dispatch_float(a.dtype, "linear", [&](auto in_tag) {
          using T = decltype(in_tag);
          launch_naive_linear(static_cast<Out*>(a.out), static_cast<const T*>(a.x), static_cast<const T*>(a.weight),
                              static_cast<int>(a.N), static_cast<int>(a.I), static_cast<int>(a.O), a.out_in != 0, s);
        });
      });
    }
  }
  const bool bias_left = a.bias && !fused.bias, gelu_left = a.gelu != PTHRUN_CUDA_GELU_NONE && !fused.gelu;
  if (!bias_left && !gelu_left) return path;
  if (path == PTHRUN_CUDA_LINEAR_FUSED) path = PTHRUN_CUDA_LINEAR_EPILOGUE;
  dispatch_float(a.out_dtype, "linear", [&](auto out_tag) {
    using Out = decltype(out_tag);
    dispatch_float(a.dtype, "linear", [&](auto bias_tag) {
      using Bias = decltype(bias_tag);
      launch_linear_epilogue(static_cast<Out*>(a.out), bias_left ? static_cast<const Bias*>(a.bias) : nullptr,
                             a.N * a.O, a.O, gelu_left ? a.gelu : PTHRUN_CUDA_GELU_NONE, s);
    });
  });
  return path;
}

}  // namespace pthrun::kernels
