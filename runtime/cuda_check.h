// Checks every CUDA runtime call inside the CUDA backend (the plugin's sources only; the core
// never sees a cudaError_t):
//
//   PTHRUN_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDefault, stream));
//   PTHRUN_CUDA_CHECK(cublasLtMatmulDescCreate(&desc, compute, CUDA_R_32F));  // kernels/cublas_check.h
//
// One macro family for both libraries: the status's type picks the overloads of cuda_ok and
// throw_status (cuBLASLt's are in kernels/cublas_check.h). A failure throws pthrun::CudaError
// (CublasError) carrying the expression, function, file, line and the library's own message;
// the plugin's entry points turn it into a status and a message for the core
// (cuda_plugin_api.h). PTHRUN_CUDA_WARN prints instead of throwing, for destructors.
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/error.h"

namespace pthrun {

inline bool cuda_ok(cudaError_t status) { return status == cudaSuccess; }
[[noreturn]] void throw_status(cudaError_t status, const char* expr, const char* func, const char* file, int line);
void warn_status(cudaError_t status, const char* expr, const char* func, const char* file, int line);

}  // namespace pthrun

#define PTHRUN_CUDA_CHECK(expr)                                                      \
  do {                                                                               \
    const auto pthrun_status_ = (expr);                                              \
    if (!::pthrun::cuda_ok(pthrun_status_))                                          \
      ::pthrun::throw_status(pthrun_status_, #expr, __func__, __FILE__, __LINE__);   \
  } while (0)

#define PTHRUN_CUDA_WARN(expr)                                                       \
  do {                                                                               \
    const auto pthrun_status_ = (expr);                                              \
    if (!::pthrun::cuda_ok(pthrun_status_))                                          \
      ::pthrun::warn_status(pthrun_status_, #expr, __func__, __FILE__, __LINE__);    \
  } while (0)

// After a kernel launch: launch-configuration errors surface here, not at the next sync.
#define PTHRUN_CUDA_CHECK_LAUNCH() PTHRUN_CUDA_CHECK(cudaGetLastError())
