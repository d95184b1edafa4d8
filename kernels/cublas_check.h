// cuBLASLt's statuses for runtime/cuda_check.h's macros (the CUDA backend's sources only):
//
//   PTHRUN_CUDA_CHECK(blas().MatmulDescCreate(&desc, compute, CUDA_R_32F));
//
// A failure throws pthrun::CublasError with cuBLASLt's name and description of the status.
#pragma once

#include <cublasLt.h>

#include "runtime/cuda_check.h"

namespace pthrun {

inline bool cuda_ok(cublasStatus_t status) { return status == CUBLAS_STATUS_SUCCESS; }
[[noreturn]] void throw_status(cublasStatus_t status, const char* expr, const char* func, const char* file, int line);
void warn_status(cublasStatus_t status, const char* expr, const char* func, const char* file, int line);

}  // namespace pthrun
