// The one place that talks to cuBLASLt (the CUDA backend's sources only).
//
//   LtProduct p{.m = O, .n = N, .k = I, .transpose_a = true, ...};
//   if (!run_lt_product(device, stream, p)) { /* no algorithm: fall back */ }
//
// cuBLASLt is opened with dlopen on first use rather than linked: loading the plugin then maps
// a few megabytes instead of cuBLASLt's half gigabyte, so that asking it about devices stays
// cheap, and a machine without cuBLASLt gets a message naming the library. Per device, created
// on first use and kept for the process: one handle, and the plans (descriptors plus the
// algorithm cuBLASLt's heuristic chose) cached by problem. The workspace is the caller's: a
// Stream's own (runtime/stream.h), so that it lives exactly as long as the stream using it.
#pragma once

#include <cublasLt.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace pthrun::kernels {

// D (m x n) = epilogue(op(A) (m x k) . B (k x n) + bias (m)), column-major, as cuBLASLt sees it.
struct LtProduct {
  int64_t m = 0, n = 0, k = 0;
  bool transpose_a = false;  // A stored k x m (op = transpose) rather than m x k
  cudaDataType_t ab_type = CUDA_R_32F;
  cudaDataType_t d_type = CUDA_R_32F;
  bool tf32 = false;  // f32 operands may use TF32 tensor cores
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* a = nullptr;
  const void* b = nullptr;
  void* d = nullptr;
  const void* bias = nullptr;  // needed by the *_BIAS epilogues; of d_type
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
};

// Whether cuBLASLt offers an algorithm for the product (its sizes, types and the pointers'
// alignments); makes and caches the plan, runs nothing.
bool lt_product_supported(int device, const LtProduct& product);
// Enqueues the product on `stream`. Returns false, having enqueued nothing, when cuBLASLt
// offers no algorithm for it; throws CublasError when a call fails.
bool run_lt_product(int device, cudaStream_t stream, const LtProduct& product);

// Opens cuBLASLt now if not yet done; throws CublasError with what dlopen reported.
struct BlasLibrary {
  int version = 0;   // cublasLtGetVersion(): 130000 for 13.0.0
  std::string path;  // the file the dynamic linker found
};
const BlasLibrary& load_blas();

}  // namespace pthrun::kernels
