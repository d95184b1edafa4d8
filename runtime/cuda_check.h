// Checks every CUDA runtime call (CUDA builds only; include from .cpp/.cu files, never from a
// public header):
//
//   PTHRUN_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDefault, stream));
//
// A failure throws pthrun::CudaError carrying the expression, function, file, line and CUDA's
// own message. PTHRUN_CUDA_WARN is the non-throwing variant for destructors.
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/error.h"

namespace pthrun {

[[noreturn]] void throw_cuda_error(cudaError_t code, const char* expr, const char* func,
                                   const char* file, int line);
void warn_cuda_error(cudaError_t code, const char* expr, const char* func, const char* file,
                     int line);

}  // namespace pthrun

#define PTHRUN_CUDA_CHECK(expr)                                                        \
  do {                                                                                 \
    cudaError_t pthrun_status_ = (expr);                                               \
    if (pthrun_status_ != cudaSuccess)                                                 \
      ::pthrun::throw_cuda_error(pthrun_status_, #expr, __func__, __FILE__, __LINE__); \
  } while (0)

#define PTHRUN_CUDA_WARN(expr)                                                        \
  do {                                                                                \
    cudaError_t pthrun_status_ = (expr);                                              \
    if (pthrun_status_ != cudaSuccess)                                                \
      ::pthrun::warn_cuda_error(pthrun_status_, #expr, __func__, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: launch-configuration errors surface here, not at the next sync.
#define PTHRUN_CUDA_CHECK_LAUNCH() PTHRUN_CUDA_CHECK(cudaGetLastError())
