// The one matrix-product entry point: a linear layer with optional bias and GELU epilogue.
//
//   linear(out, x, w, WeightLayout::out_in, b, Epilogue::none, {}, stream);
//       out (N, O) = x (N, I) @ W^T + b        W stored (O, I), as nn.Linear stores it
//   linear(out, x, w, WeightLayout::in_out, b, Epilogue::gelu, {.allow_tf32 = true}, stream);
//       out (N, O) = gelu(x (N, I) @ W + b)    W stored (I, O), as HF's Conv1D stores it
//
//   linear(out, x, LinearWeight{w16, WeightLayout::out_in}, b, Epilogue::none, {}, stream);
//       the same with W stored in bf16, f16 or int8 (linear_weight.h) and x, b, out in f32:
//       the CPU's reduced-precision weights
//
// Weights stay in the layout the checkpoint has; the product picks the transpose. bias (O)
// may be undefined. Two forms:
//   same dtype: x, weight and bias share one dtype (f32, bf16 or f16); out has that dtype or
//     f32 (logits are kept in f32). Every device runs it.
//   f32 activations: x, bias and out f32, weight bf16, f16 or int8. The CPU only.
// Accumulation is always f32; on the GPU fp32 products use TF32 only when the options allow it.
//
// CPU: up to 4 rows (decode), and any number of rows of a row-invariant product (a batched
// decode step), go through matrix-vector kernels that stream the weight once at the memory's
// speed, picked for the CPU's instruction set at run time (cpu/gemv.h); more rows through
// CBLAS (OpenBLAS) sgemm on f32 panels of the weight. GPU: cuBLASLt with its bias
// and (tanh) GELU epilogues where they apply; the erf GELU always runs as our own kernel.
#pragma once

#include "kernels/linear_weight.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace pthrun::kernels {

// gelu: GPT-2's tanh approximation, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)));
// gelu_erf: the exact form, 0.5 x (1 + erf(x / sqrt 2)) (PyTorch's nn.GELU(), nanoGPT's).
enum class Epilogue { none, gelu, gelu_erf };


// How products may compute. A model's setting (ModelOptions::tf32), passed with every call,
// rather than a process-wide switch such as torch.backends.cuda.matmul.allow_tf32: two models
// in one process may differ.
struct MatmulOptions {
  bool allow_tf32 = false;  // fp32 products on the GPU may use TF32 tensor cores
  // Each row of the output must be computed as it would be alone, whatever the other rows
  // (a decode step's batch, where one row is one request): batching then never changes a
  // request's tokens. The CPU honours it; on the GPU cuBLAS picks its algorithm by shape.
  bool row_invariant = false;
};

void linear(const Tensor& out, const Tensor& x, const LinearWeight& weight, const Tensor& bias,
            Epilogue epilogue, const MatmulOptions& options, const Stream& stream);
inline void linear(const Tensor& out, const Tensor& x, const Tensor& weight, WeightLayout layout,
                   const Tensor& bias, Epilogue epilogue, const MatmulOptions& options, const Stream& stream) {
  kernels::linear(out, x, LinearWeight{weight, layout, Tensor(), 0}, bias, epilogue, options, stream);
}

namespace cpu {
// OpenBLAS's kernels for products of many rows: the CPU model whose kernels it loaded, e.g.
// "Cooperlake" (AVX-512) or "Haswell" (AVX2), picked for the CPU unless the environment's
// OPENBLAS_CORETYPE names one. Benchmarks print it: on this machine the two differ by 1.5x in
// prefill.
const char* blas_kernels();
void linear(const Tensor& out, const Tensor& x, const LinearWeight& weight, const Tensor& bias,
            Epilogue epilogue, const MatmulOptions& options, const Stream& stream);
inline void linear(const Tensor& out, const Tensor& x, const Tensor& weight, WeightLayout layout,
                   const Tensor& bias, Epilogue epilogue, const MatmulOptions& options, const Stream& stream) {
  cpu::linear(out, x, LinearWeight{weight, layout, Tensor(), 0}, bias, epilogue, options, stream);
}
}
namespace cuda {
void linear(const Tensor& out, const Tensor& x, const Tensor& weight, WeightLayout layout,
            const Tensor& bias, Epilogue epilogue, const MatmulOptions& options, const Stream& stream);
}

}  // namespace pthrun::kernels
