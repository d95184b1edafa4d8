// CPU linear layer (see kernels/matmul.h): matrix-vector kernels for a few rows, CBLAS sgemm
// for more, GELU in one pass over each thread's slice while it is still in cache.
//
// Few rows (decode, up to kGemvMaxRows): the time is that of reading the weight from memory,
// once. The output channels are cut into contiguous chunks that threads take as they become
// free; each chunk's weights are streamed front to back by the kernels of the CPU's
// instruction-set level (cpu/gemv.h), in the weight's own dtype (f32, bf16, f16 or int8).
//
// More rows (prefill): compute-bound, and OpenBLAS's sgemm is fast. OpenBLAS is set to one
// thread and the output columns are cut into slices that our OpenMP threads take as they
// become free, each running its own sgemm on its slice. Two thread pools (OpenBLAS's pthreads
// and OpenMP's) would otherwise spin against each other between calls: on 2 cores PyTorch,
// which has both, runs a gpt2 forward pass 2-3x slower with 2 threads than with 1. An f32
// weight is never copied or transposed: the layout picks the CBLAS transpose flag. A bf16,
// f16 or int8 weight is widened to f32 one panel of kPanelColumns outputs at a time (in the
// thread's cache) before its sgemm.
//
// Same-dtype bf16/f16 calls (x in bf16 or f16) widen x and the bias to f32, run the f32-
// activation product with the weight as it is, and round the output.
#include "kernels/matmul.h"

#include <cblas.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/gemv.h"
#include "kernels/cpu/vector_math.h"
#include "kernels/element.h"
#include "kernels/op_checks.h"
#include "runtime/checked_math.h"

namespace pthrun::kernels::cpu {

namespace {

// Rows of x up to which the matrix-vector kernels run unless the product must be row-invariant
// (beyond that sgemm's blocking wins).
constexpr int64_t kGemvMaxRows = 4;
// Output channels per chunk handed to a thread are multiples of this (whole cache lines of
// f32 outputs).
constexpr int64_t kGemvAlign = 16;
// Bytes of weight per thread below which the matrix-vector product stays on one thread.
constexpr int64_t kGemvBytesPerThread = int64_t{1} << 17;
// Column slices of sgemm are multiples of this (OpenBLAS's kernels work on 16-float panels).
constexpr int64_t kColumnAlign = 16;
// Multiply-adds per slice, at least. Below 10^6 OpenBLAS switches to small-matrix kernels
// whose NN and NT variants round differently; above it, both weight layouts give the same
// bits (a checkpoint converted from book to HF naming keeps its logits exactly). Slices of
// 2^21 keep every slice above it whenever the whole product is.
constexpr int64_t kMinSliceMacs = int64_t{1} << 21;
// Outputs per f32 panel of a widened weight: 256 x 768 floats, 768 KiB, fit a core's L2.
constexpr int64_t kPanelColumns = 256;
// Input rows of an in_out weight per piece of a matrix-vector product (see in_out_product).
constexpr int64_t kInputRows = 64;
// Output columns per chunk of an in_out product of several rows are multiples of this (the
// widest register tile of cpu/gemv_impl.h: 4 vectors of 16 floats).
constexpr int64_t kInOutColumnAlign = 64;

GemvType gemv_type(DType dtype) {
  switch (dtype) {
    case DType::bf16:
      return kGemvBf16;
    case DType::f16:
      return kGemvF16;
    case DType::i8:
      return kGemvInt8;
    default:
      return kGemvF32;
  }
}

int64_t weight_element_bytes(GemvType type) { return type == kGemvF32 ? 4 : type == kGemvInt8 ? 1 : 2; }

// The arguments of a product over f32 x, bias and out (see cpu/gemv.h).
struct Product {
  GemvArgs args;
  GemvType type;
  bool out_in;
  Epilogue epilogue;
};

void gelu_columns(const Product& p, int64_t o0, int64_t o1) {
  if (p.epilogue == Epilogue::none) return;
  for (int64_t n = 0; n < p.args.N; ++n) {
    float* row = p.args.out + n * p.args.O;
    if (p.epilogue == Epilogue::gelu_erf)
      gelu_erf_f32(row + o0, row + o0, nullptr, o1 - o0);
    else
      gelu_f32(row + o0, row + o0, nullptr, o1 - o0);
  }
}

// The product of piece `piece` of an in_out weight (its kInputRows input rows, the last one
// shorter) with the matching columns of x, copied to x_rows, into out (N x O), without bias.
GemvArgs input_piece(const Product& p, int64_t piece, std::vector<float>& x_rows, float* out) {
  const GemvArgs& a = p.args;
  const int64_t i0 = piece * kInputRows, rows = std::min(kInputRows, a.I - i0);
  x_rows.resize(static_cast<std::size_t>(a.N * rows));
  for (int64_t n = 0; n < a.N; ++n) std::copy(a.x + n * a.I + i0, a.x + n * a.I + i0 + rows, x_rows.data() + n * rows);
  GemvArgs part = a;
  part.x = x_rows.data(), part.I = rows, part.bias = nullptr, part.out = out;
  part.w = static_cast<const char*>(a.w) + i0 * a.O * weight_element_bytes(p.type);
  return part;
}

// An in_out weight (I x O, Conv1D's layout) for one row of x: cut by output columns, each
// thread would read a short run of every weight row and skip the rest, which the hardware
// prefetchers follow poorly. So it is cut by input rows instead: each piece of kInputRows rows
// is one contiguous run of memory, read once, into partial sums of every output; the partial
// sums are then added in piece order. Pieces do not depend on the thread count: the same bits
// at any thread count, and (in_out_columns) for a row alone or in a batch.
void in_out_product(const Product& p, GemvFn fn, int64_t threads) {
  const GemvArgs& a = p.args;
  const int64_t pieces = ceil_div(a.I, kInputRows), N = a.N, O = a.O;
  thread_local std::vector<float> partial;
  partial.resize(static_cast<std::size_t>(pieces * N * O));
  float* sums = partial.data();
  run_chunks(pieces, threads, pieces, [&](int64_t first, int64_t end) {
    thread_local std::vector<float> x_rows;
    for (int64_t piece = first; piece < end; ++piece) fn(input_piece(p, piece, x_rows, sums + piece * N * O), {0, O});
  });
  parallel_chunks(ceil_div(O, kGemvAlign), threads, [&](int64_t first, int64_t end) {
    const int64_t o0 = first * kGemvAlign, o1 = std::min(end * kGemvAlign, O);
    for (int64_t n = 0; n < N; ++n) {
      float* out = a.out + n * O;
      std::copy(sums + n * O + o0, sums + n * O + o1, out + o0);
      for (int64_t piece = 1; piece < pieces; ++piece) {
        const float* add = sums + (piece * N + n) * O;
        for (int64_t o = o0; o < o1; ++o) out[o] += add[o];
      }
      if (a.bias)
        for (int64_t o = o0; o < o1; ++o) out[o] += a.bias[o];
    }
    gelu_columns(p, o0, o1);
  });
}

// An in_out weight for several rows of x (a batched decode step): the multiply-adds, not the
// memory, take the time, so each thread takes whole column chunks (multiples of
// kInOutColumnAlign, the register tiles' width) and runs every piece of kInputRows input rows
// over them in order, adding each piece's sums to the output as it comes. The pieces and the
// order of their sums are in_out_product's, so every row gets the bits it gets alone; and no
// partial sums of the whole output go through memory.
void in_out_columns(const Product& p, GemvFn fn, int64_t threads) {
  const GemvArgs& a = p.args;
  const int64_t N = a.N, O = a.O;
  parallel_chunks(ceil_div(O, kInOutColumnAlign), threads, [&](int64_t first, int64_t end) {
    const int64_t o0 = first * kInOutColumnAlign, o1 = std::min(end * kInOutColumnAlign, O);
    thread_local std::vector<float> x_rows, piece_sums;
    piece_sums.resize(static_cast<std::size_t>(N * O));
    for (int64_t piece = 0; piece * kInputRows < a.I; ++piece) {
      fn(input_piece(p, piece, x_rows, piece_sums.data()), {o0, o1});
      for (int64_t n = 0; n < N; ++n) {
        float* out = a.out + n * O;
        const float* add = piece_sums.data() + n * O;
        if (piece == 0)
          std::copy(add + o0, add + o1, out + o0);
        else
          for (int64_t o = o0; o < o1; ++o) out[o] += add[o];
      }
    }
    if (a.bias)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t o = o0; o < o1; ++o) a.out[n * O + o] += a.bias[o];
    gelu_columns(p, o0, o1);
  });
}

void gemv_product(Product& p) {
  const GemvKernels& kernels = gemv_kernels(active_cpu_isa());
  const GemvArgs& a = p.args;
  thread_local std::vector<uint16_t> hi, lo;
  if (p.type == kGemvBf16 && p.out_in && kernels.bf16_pairs) {
    hi.resize(static_cast<std::size_t>(a.N * a.I));
    lo.resize(static_cast<std::size_t>(a.N * a.I));
    split_bf16(a.x, a.N * a.I, hi.data(), lo.data());
    p.args.x_hi = hi.data();
    p.args.x_lo = lo.data();
  }
  const GemvFn fn = p.out_in ? kernels.out_in[p.type] : kernels.in_out[p.type];
  const int64_t weight_bytes = a.O * a.I * weight_element_bytes(p.type);
  const int64_t threads = std::clamp<int64_t>(weight_bytes / kGemvBytesPerThread, 1, omp_get_max_threads());
  if (!p.out_in) return a.N > 1 ? in_out_columns(p, fn, threads) : in_out_product(p, fn, threads);
  const int64_t units = ceil_div(a.O, kGemvAlign);
  // Each chunk's first block of weights is asked for while the one before it on the same thread
  // computes (GemvRows): read in on its own instead, the 16-prompt decode step of 128-token
  // prompts took 21.9-22.6 ms against 21.6-21.9.
  parallel_chunks_ahead(units, threads, [&](int64_t first, int64_t end, int64_t next, int64_t next_end, bool asked) {
    const int64_t o0 = first * kGemvAlign, o1 = std::min(end * kGemvAlign, a.O);
    fn(p.args, {o0, o1, std::min(next * kGemvAlign, a.O), std::min(next_end * kGemvAlign, a.O), asked});
    gelu_columns(p, o0, o1);
  });
}

// out[:, o0:o1] = x @ W_slice (+ bias) by sgemm: W_slice holds the slice's outputs as rows of
// I (out_in, leading dimension I) or columns (in_out, leading dimension ldw).
void sgemm_slice(const Product& p, const float* w_slice, int64_t ldw, int64_t o0, int64_t o1) {
  const GemvArgs& a = p.args;
  const int N = static_cast<int>(a.N), I = static_cast<int>(a.I), O = static_cast<int>(a.O);
  const int width = static_cast<int>(o1 - o0);
  // The bias goes in first and the product adds to it (beta = 1): one pass less over the
  // output than adding it afterwards.
  const float beta = a.bias ? 1.0f : 0.0f;
  if (a.bias)
    for (int64_t n = 0; n < a.N; ++n) std::copy(a.bias + o0, a.bias + o1, a.out + n * a.O + o0);
  if (p.out_in)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, width, I, 1.0f, a.x, I, w_slice, I, beta, a.out + o0, O);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, width, I, 1.0f, a.x, I, w_slice, static_cast<int>(ldw),
                beta, a.out + o0, O);
}

// One thread's slice of a many-row product: sgemm on the weight itself (f32), or on f32
// panels of it.
void gemm_slice(const Product& p, int64_t o0, int64_t o1) {
  const GemvArgs& a = p.args;
  if (p.type == kGemvF32) {
    const float* w = static_cast<const float*>(a.w);
    sgemm_slice(p, p.out_in ? w + o0 * a.I : w + o0, a.O, o0, o1);
  } else {
    const GemvKernels& kernels = gemv_kernels(active_cpu_isa());
    thread_local std::vector<float> panel;
    for (int64_t c0 = o0; c0 < o1; c0 += kPanelColumns) {
      const int64_t c1 = std::min(c0 + kPanelColumns, o1);
      panel.resize(static_cast<std::size_t>((c1 - c0) * a.I));
      if (p.out_in)
        kernels.widen_rows[p.type](panel.data(), a, c0, c1);
      else
        kernels.widen_columns[p.type](panel.data(), a, c0, c1);
      sgemm_slice(p, panel.data(), c1 - c0, c0, c1);
    }
  }
  gelu_columns(p, o0, o1);
}

void gemm_product(const Product& p) {
  const GemvArgs& a = p.args;
  // Equal slices of whole panels, one per thread, none too small; one thread makes one call.
  // Each call packs all of x again (OpenBLAS's oncopy: 4.6% of a 16-prompt prefill's time
  // with 4 slices a thread, 2.0% with one), so the slices are as wide as they can be: a
  // 128-token prefill of gpt2-small on a 2-core Zen 3 VM took 153-159 ms against 163-169 with
  // 4 a thread and 159-163 with 2 (kernel-bench --chain, 4 interleaved runs); on Zen 5 the
  // three were level.
  const int64_t panels = ceil_div(a.O, kColumnAlign), macs = a.N * a.I * a.O;
  const int64_t threads = omp_get_max_threads();
  const int64_t slices = threads <= 1 ? 1 : std::clamp<int64_t>(macs / kMinSliceMacs, 1, std::min(panels, threads));
  auto edge = [&](int64_t slice) { return std::min(panels * slice / slices * kColumnAlign, a.O); };
  parallel_rows(slices, macs / slices, [&](int64_t first, int64_t end) {
    for (int64_t slice = first; slice < end; ++slice) gemm_slice(p, edge(slice), edge(slice + 1));
  });
}

// The product with f32 x, bias and out. Row-invariant products go through the matrix-vector
// kernels whatever the rows: they compute each row with the same operations whether it is
// alone or not (cpu/gemv.h), which sgemm's blocking does not.
void linear_f32(float* out, const float* x, const LinearWeight& weight, const float* bias, const LinearDims& s,
                Epilogue epilogue, bool row_invariant) {
  Product p{};
  p.args.x = x;
  p.args.N = s.N, p.args.I = s.I, p.args.O = s.O;
  p.args.w = weight.values.data_ptr();
  p.args.scales = weight.scales.defined() ? weight.scales.data<float>() : nullptr;
  p.args.group = weight.group;
  p.args.bias = bias;
  p.args.out = out;
  p.type = gemv_type(weight.values.dtype());
  p.out_in = weight.layout == WeightLayout::out_in;
  p.epilogue = epilogue;
  if (s.N <= kGemvMaxRows || row_invariant)
    gemv_product(p);
  else
    gemm_product(p);
}

template <typename T>
const float* widened(const Tensor& t, std::vector<float>& scratch) {
  const T* p = static_cast<const T*>(t.data_ptr());
  scratch.resize(static_cast<std::size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) scratch[i] = to_f32(p[i]);
  return scratch.data();
}

}  // namespace

const char* blas_kernels() { return openblas_get_corename(); }

void linear(const Tensor& out, const Tensor& x, const LinearWeight& weight, const Tensor& bias, Epilogue epilogue,
            const MatmulOptions& options, const Stream& stream) {
  // TF32 is a GPU matter: the CPU computes f32 products in f32.
  (void)stream;  // work on the CPU is synchronous
  const LinearDims s = check_linear(out, x, weight, bias);
  if (out.numel() == 0) return;
  use_single_threaded_blas();
  if (x.dtype() == DType::f32) {
    float* of = static_cast<float*>(out.data_ptr());
    linear_f32(of, x.data<float>(), weight, bias.defined() ? bias.data<float>() : nullptr, s, epilogue,
               options.row_invariant);
    return;
  }
  dispatch_float(x.dtype(), "linear", [&](auto tag) {
    using T = decltype(tag);
    std::vector<float> x_scratch, b_scratch, out_scratch;
    const float* xf = widened<T>(x, x_scratch);
    const float* bf = bias.defined() ? widened<T>(bias, b_scratch) : nullptr;
    float* of = static_cast<float*>(out.data_ptr());
    if (out.dtype() != DType::f32) {
      out_scratch.resize(static_cast<std::size_t>(out.numel()));
      of = out_scratch.data();
    }
    linear_f32(of, xf, weight, bf, s, epilogue, options.row_invariant);
    if (out.dtype() != DType::f32) {
      T* o = static_cast<T*>(out.data_ptr());
      for (int64_t i = 0; i < out.numel(); ++i) o[i] = from_f32<T>(out_scratch[i]);
    }
  });
}

}  // namespace pthrun::kernels::cpu
