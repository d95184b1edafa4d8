// The one place that talks to cuBLASLt (CUDA builds only; include from .cpp/.cu files).
//
//   LtProduct p{.m = O, .n = N, .k = I, .transpose_a = true, ...};
//   if (!run_lt_product(device, stream, p)) { /* no algorithm: fall back */ }
//
// Per device, created on first use and kept for the process: one cuBLASLt handle, the plans
// (descriptors plus the algorithm cuBLASLt's heuristic chose) cached by problem, and one 32 MiB
// workspace per stream, allocated through the device allocator under AllocScope("workspace").
// A workspace per stream rather than one per device, because two streams running products at
// the same time must not share one. The first product on a stream allocates its workspace:
// run one product on a stream before capturing that stream into a CUDA graph.
#pragma once

#include <cublasLt.h>

#include <cstdint>

#include "runtime/device.h"

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
};

// Enqueues the product on `stream`. Returns false, having enqueued nothing, when cuBLASLt
// offers no algorithm for it; throws CublasError when a call fails.
bool run_lt_product(Device device, cudaStream_t stream, const LtProduct& product);

}  // namespace pthrun::kernels
