// CUDA linear layer (see kernels/matmul.h) on cuBLASLt, f32 accumulation.
//
// Row-major to cuBLASLt's column-major: out (N, O) row-major is D = out^T (O x N), so
// D = W' . x^T with m = O, n = N, k = I. x (N, I) row-major is x^T (I x N) column-major:
// B, no transpose. W stored (O, I) (out_in) is (I x O) column-major: A with op = transpose;
// W stored (I, O) (in_out) is (O x I) column-major: A as it is. No weight is ever copied.
//
// Epilogues: cuBLASLt adds the bias when out has the operands' dtype, and applies GELU too when
// that dtype is bf16 or f16. Its GELU is the tanh approximation GPT-2 uses: NVIDIA's
// documentation only says "GELU", but PyTorch's addmm-with-GELU (aten/src/ATen/native/cuda/
// Blas.cpp) uses this epilogue and, where it cannot, falls back to gelu(approximate="tanh");
// llm.c's GPT-2 uses it the same way. How precisely it evaluates tanh is not documented either,
// so f32 outputs, which the tests hold to 1e-5 against the CPU, get GELU from our own kernel;
// in bf16 and f16 the output's rounding dwarfs any such difference. Whatever cuBLASLt did not
// apply (f32 logits from 16-bit operands, a shape with no algorithm for the epilogue) runs as a
// separate kernel; a shape cuBLASLt refuses altogether gets a plain one-thread-per-output kernel.
#include <cuda_runtime.h>

#include "kernels/cublaslt.h"
#include "kernels/cuda_common.cuh"
#include "kernels/gelu.cuh"
#include "kernels/matmul.h"
#include "kernels/op_checks.h"
#include "runtime/checked_math.h"

namespace pthrun::kernels {

namespace {

using namespace cuda_detail;

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;

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

// out (N, O) = act(out + bias) for the products whose epilogue cuBLASLt did not run.
template <typename Out, typename Bias>
__global__ void linear_epilogue_kernel(Out* out, const Bias* bias, int64_t n, int64_t O, bool apply_gelu) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    float v = load(out + i) + (bias ? load(bias + i % O) : 0.0f);
    store(out + i, apply_gelu ? gelu(v) : v);
  }
}

template <typename Out, typename Bias>
void launch_linear_epilogue(Out* out, const Bias* bias, int64_t n, int64_t O, bool apply_gelu, cudaStream_t stream) {
  if (n == 0) return;
  const int blocks = static_cast<int>(std::min(ceil_div(n, kThreads), kMaxBlocks));
  linear_epilogue_kernel<<<blocks, kThreads, 0, stream>>>(out, bias, n, O, apply_gelu);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

template <typename T, typename Out>
void launch_naive_linear(Out* out, const T* x, const T* w, int N, int I, int O, bool out_in, cudaStream_t stream) {
  const int blocks = static_cast<int>(std::min(ceil_div(int64_t{N} * O, kThreads), kMaxBlocks));
  naive_linear_kernel<<<blocks, kThreads, 0, stream>>>(out, x, w, N, I, O, out_in);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

cudaDataType_t cuda_type(DType dtype) {
  switch (dtype) {
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

}  // namespace

void cuda::linear(const Tensor& out, const Tensor& x, const Tensor& weight, WeightLayout layout, const Tensor& bias,
                  Epilogue epilogue, const MatmulOptions& options, const Stream& stream) {
  const LinearDims d = check_linear(out, x, LinearWeight{weight, layout, Tensor(), 0}, bias);
  if (out.numel() == 0) return;
  const Device device = out.device();
  use_device(device);
  cudaStream_t s = native(stream);
  const bool apply_gelu = epilogue == Epilogue::gelu;
  bool fused_bias = false, fused_gelu = false;  // applied by cuBLASLt
  if (d.I == 0) {
    // An empty sum: the product is zero (cuBLASLt does not take k = 0).
    PTHRUN_CUDA_CHECK(cudaMemsetAsync(out.data_ptr(), 0, out.nbytes(), s));
  } else {
    LtProduct p;
    p.m = d.O;
    p.n = d.N;
    p.k = d.I;
    p.transpose_a = layout == WeightLayout::out_in;
    p.ab_type = cuda_type(x.dtype());
    p.d_type = cuda_type(out.dtype());
    p.tf32 = x.dtype() == DType::f32 && options.allow_tf32;
    p.a = weight.data_ptr();
    p.b = x.data_ptr();
    p.d = out.data_ptr();
    const bool same_dtype = out.dtype() == x.dtype();
    fused_bias = same_dtype && bias.defined();
    fused_gelu = same_dtype && apply_gelu && out.dtype() != DType::f32;
    if (fused_bias || fused_gelu) {
      p.epilogue = fused_epilogue(fused_bias, fused_gelu);
      p.bias = fused_bias ? bias.data_ptr() : nullptr;
      if (!run_lt_product(device, s, p)) fused_bias = fused_gelu = false;
    }
    if (!fused_bias && !fused_gelu) {
      p.epilogue = CUBLASLT_EPILOGUE_DEFAULT;
      p.bias = nullptr;
      if (!run_lt_product(device, s, p)) {
        dispatch_float(out.dtype(), "linear", [&](auto out_tag) {
          using Out = decltype(out_tag);
          dispatch_float(x.dtype(), "linear", [&](auto in_tag) {
            using T = decltype(in_tag);
            launch_naive_linear(static_cast<Out*>(out.data_ptr()), static_cast<const T*>(x.data_ptr()),
                                static_cast<const T*>(weight.data_ptr()), static_cast<int>(d.N), static_cast<int>(d.I),
                                static_cast<int>(d.O), p.transpose_a, s);
          });
        });
      }
    }
  }
  const bool bias_left = bias.defined() && !fused_bias, gelu_left = apply_gelu && !fused_gelu;
  if (!bias_left && !gelu_left) return;
  dispatch_float(out.dtype(), "linear", [&](auto out_tag) {
    using Out = decltype(out_tag);
    dispatch_float(x.dtype(), "linear", [&](auto bias_tag) {
      using Bias = decltype(bias_tag);
      launch_linear_epilogue(static_cast<Out*>(out.data_ptr()),
                             bias_left ? static_cast<const Bias*>(bias.data_ptr()) : nullptr, out.numel(), d.O,
                             gelu_left, s);
    });
  });
}

}  // namespace pthrun::kernels
