// Checks every cuBLAS/cuBLASLt call (CUDA builds only; include from .cpp/.cu files):
//
//   PTHRUN_CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc, compute, CUDA_R_32F));
//
// A failure throws pthrun::CublasError carrying the expression, function, file, line and
// cuBLAS's own name and description of the status. PTHRUN_CUBLAS_WARN is the non-throwing
// variant for destructors.
#pragma once

#include <cublasLt.h>

#include "runtime/error.h"

namespace pthrun {

[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* expr, const char* func, const char* file,
                                     int line);
void warn_cublas_error(cublasStatus_t status, const char* expr, const char* func, const char* file, int line);

}  // namespace pthrun

#define PTHRUN_CUBLAS_CHECK(expr)                                                        \
  do {                                                                                   \
    cublasStatus_t pthrun_status_ = (expr);                                              \
    if (pthrun_status_ != CUBLAS_STATUS_SUCCESS)                                         \
      ::pthrun::throw_cublas_error(pthrun_status_, #expr, __func__, __FILE__, __LINE__); \
  } while (0)

#define PTHRUN_CUBLAS_WARN(expr)                                                        \
  do {                                                                                  \
    cublasStatus_t pthrun_status_ = (expr);                                             \
    if (pthrun_status_ != CUBLAS_STATUS_SUCCESS)                                        \
      ::pthrun::warn_cublas_error(pthrun_status_, #expr, __func__, __FILE__, __LINE__); \
  } while (0)
