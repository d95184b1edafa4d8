// CPU reference of the linear layer (see kernels/matmul.h): CBLAS sgemm (sgemv for one row)
// with the bias preloaded into the output (beta = 1), then GELU in one pass when asked for.
//
// Threads: OpenBLAS is set to one thread and the output columns are cut into slices that our
// OpenMP threads take as they become free, each running its own sgemm on its slice of the
// weight and then the slice's GELU while it is still in cache. Two thread pools (OpenBLAS's
// pthreads and OpenMP's) would otherwise spin against each other between calls: on 2 cores
// PyTorch, which has both, runs a gpt2 forward pass 2-3x slower with 2 threads than with 1.
// The weight is never copied or transposed when it is f32: the layout picks the CBLAS
// transpose flag. bf16/f16 operands are widened to f32 scratch buffers first.
#include "kernels/matmul.h"

#include <cblas.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/vector_math.h"
#include "kernels/element.h"
#include "kernels/op_checks.h"
#include "runtime/checked_math.h"

namespace pthrun::kernels::cpu {

namespace {

// Column slices are multiples of this (OpenBLAS's kernels work on 16-float panels).
constexpr int64_t kColumnAlign = 16;
// Multiply-adds per slice, at least. Below 10^6 OpenBLAS switches to small-matrix kernels
// whose NN and NT variants round differently; above it, both weight layouts give the same
// bits (a checkpoint converted from book to HF naming keeps its logits exactly). Slices of
// 2^21 keep every slice above it whenever the whole product is.
constexpr int64_t kMinSliceMacs = int64_t{1} << 21;

// Widens n elements to f32; f32 input is used in place.
template <typename T>
const float* as_f32(const T* p, int64_t n, std::vector<float>& scratch) {
  if constexpr (std::is_same_v<T, float>) {
    return p;
  } else {
    scratch.resize(static_cast<std::size_t>(n));
    for (int64_t i = 0; i < n; ++i) scratch[i] = to_f32(p[i]);
    return scratch.data();
  }
}

// out[:, o0:o1] = x @ W^T (or x @ W) in f32, then the epilogue, for one thread's slice.
void product_slice(float* out, const float* x, const float* w, const float* bias, bool out_in, bool gelu_after,
                   bool row_invariant, const LinearDims& s, int64_t o0, int64_t o1) {
  const int N = static_cast<int>(s.N), I = static_cast<int>(s.I), O = static_cast<int>(s.O);
  const int width = static_cast<int>(o1 - o0);
  // The bias goes in first and the product adds to it (beta = 1): one pass less over the
  // output than adding it afterwards.
  const float beta = bias ? 1.0f : 0.0f;
  if (bias)
    for (int64_t n = 0; n < s.N; ++n) std::copy(bias + o0, bias + o1, out + n * s.O + o0);
  if (N == 1 || row_invariant) {
    // Row by row (a decode step): matrix-vector products over the slice's weight rows/columns,
    // each row's the same arithmetic as when it is alone.
    for (int n = 0; n < N; ++n) {
      const float* xn = x + static_cast<int64_t>(n) * I;
      float* on = out + static_cast<int64_t>(n) * O + o0;
      if (out_in)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, width, I, 1.0f, w + o0 * I, I, xn, 1, beta, on, 1);
      else
        cblas_sgemv(CblasRowMajor, CblasTrans, I, width, 1.0f, w + o0, O, xn, 1, beta, on, 1);
    }
  } else if (out_in) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, width, I, 1.0f, x, I, w + o0 * I, I, beta, out + o0, O);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, width, I, 1.0f, x, I, w + o0, O, beta, out + o0, O);
  }
  if (!gelu_after) return;
  for (int64_t n = 0; n < s.N; ++n) gelu_f32(out + n * s.O + o0, out + n * s.O + o0, nullptr, o1 - o0);
}

}  // namespace

void linear(const Tensor& out, const Tensor& x, const Tensor& weight, WeightLayout layout, const Tensor& bias,
            Epilogue epilogue, const MatmulOptions& options, const Stream& stream) {
  // TF32 is a GPU matter: the CPU computes f32 products in f32.
  (void)stream;   // work on the CPU is synchronous
  const LinearDims s = check_linear(out, x, weight, layout, bias);
  if (out.numel() == 0) return;
  use_single_threaded_blas();
  dispatch_float(x.dtype(), "linear", [&](auto tag) {
    using T = decltype(tag);
    std::vector<float> x_scratch, w_scratch, b_scratch, out_scratch;
    const float* xf = as_f32(static_cast<const T*>(x.data_ptr()), x.numel(), x_scratch);
    const float* wf = as_f32(static_cast<const T*>(weight.data_ptr()), weight.numel(), w_scratch);
    const float* bf =
        bias.defined() ? as_f32(static_cast<const T*>(bias.data_ptr()), bias.numel(), b_scratch) : nullptr;
    float* of = static_cast<float*>(out.data_ptr());
    if (out.dtype() != DType::f32) {
      out_scratch.resize(static_cast<std::size_t>(out.numel()));
      of = out_scratch.data();
    }
    const bool out_in = layout == WeightLayout::out_in;
    const bool gelu_after = epilogue == Epilogue::gelu;
    // Equal slices of whole panels, a few per thread (see parallel_rows), none too small; one
    // thread makes one call.
    // Row-invariant products slice as a single row does, so that a row's columns fall into the
    // same slices whatever the batch.
    const int64_t panels = ceil_div(s.O, kColumnAlign), macs = (options.row_invariant ? 1 : s.N) * s.I * s.O;
    const int64_t threads = omp_get_max_threads();
    const int64_t slices =
        threads <= 1 ? 1 : std::clamp<int64_t>(macs / kMinSliceMacs, 1, std::min(panels, threads * kChunksPerThread));
    auto edge = [&](int64_t slice) { return std::min(panels * slice / slices * kColumnAlign, s.O); };
    parallel_rows(slices, macs / slices, [&](int64_t first, int64_t end) {
      for (int64_t slice = first; slice < end; ++slice)
        product_slice(of, xf, wf, bf, out_in, gelu_after, options.row_invariant, s, edge(slice), edge(slice + 1));
    });
    if (out.dtype() != DType::f32) {
      T* o = static_cast<T*>(out.data_ptr());
      for (int64_t i = 0; i < out.numel(); ++i) o[i] = from_f32<T>(out_scratch[i]);
    }
  });
}

}  // namespace pthrun::kernels::cpu
