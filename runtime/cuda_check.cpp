#include "runtime/cuda_check.h"

#include <cstdio>

namespace pthrun {

namespace {

std::string describe(cudaError_t status, const char* expr, const char* func, const char* file, int line) {
  return str("CUDA error ", cudaGetErrorName(status), " (", cudaGetErrorString(status), ") from ", expr, " in ", func,
             " at ", file, ":", line);
}

}  // namespace

void throw_status(cudaError_t status, const char* expr, const char* func, const char* file, int line) {
  // Clear a non-sticky error so that the next, unrelated call does not report it again.
  cudaGetLastError();
  throw CudaError(static_cast<int>(status), describe(status, expr, func, file, line));
}

void warn_status(cudaError_t status, const char* expr, const char* func, const char* file, int line) {
  cudaGetLastError();
  std::fprintf(stderr, "warning: %s\n", describe(status, expr, func, file, line).c_str());
}

}  // namespace pthrun
