#include "kernels/cublas_check.h"

#include <cstdio>

namespace pthrun {

namespace {

std::string describe(cublasStatus_t status, const char* expr, const char* func, const char* file, int line) {
  return str("cuBLAS error ", cublasLtGetStatusName(status), " (", cublasLtGetStatusString(status), ") from ", expr,
             " in ", func, " at ", file, ":", line);
}

}  // namespace

void throw_cublas_error(cublasStatus_t status, const char* expr, const char* func, const char* file, int line) {
  throw CublasError(static_cast<int>(status), describe(status, expr, func, file, line));
}

void warn_cublas_error(cublasStatus_t status, const char* expr, const char* func, const char* file, int line) {
  std::fprintf(stderr, "warning: %s\n", describe(status, expr, func, file, line).c_str());
}

}  // namespace pthrun
