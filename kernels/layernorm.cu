// CUDA LayerNorm and residual + LayerNorm (see kernels/layernorm.h).
//
// One block of 256 threads per row. Thread t owns elements t, t + 256, ... of its row in every
// pass, so the passes need no synchronisation beyond the reductions: (residual) residual +=
// delta, stored rounded; mean; biased variance as the mean of squared deviations (two passes,
// as on the CPU); the affine map. Later passes re-read the row, which by then sits in L1/L2.
// An in-place call (out == x, or out == delta) is safe: a thread writes only elements it has
// already read, and reads no one else's.
#include "kernels/cuda_common.cuh"
#include "kernels/cuda_launchers.h"

namespace pthrun::kernels {

namespace {

using namespace cuda_detail;

constexpr int kThreads = 256;

// Mean and 1/sqrt(var + eps) of row v (C elements, stored as T).
template <typename T>
__device__ void row_statistics(const T* v, int C, float eps, float* scratch, float* mean, float* rstd) {
  float sum = 0;
  for (int c = threadIdx.x; c < C; c += blockDim.x) sum += load(v + c);
  const float m = block_sum(sum, scratch) / static_cast<float>(C);
  float squares = 0;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float d = load(v + c) - m;
    squares += d * d;
  }
  *mean = m;
  *rstd = rsqrtf(block_sum(squares, scratch) / static_cast<float>(C) + eps);
}

template <typename T>
__device__ void normalize_row(T* out, const T* v, const T* weight, const T* bias, int C, float mean, float rstd) {
  for (int c = threadIdx.x; c < C; c += blockDim.x)
    store(out + c, (load(v + c) - mean) * rstd * load(weight + c) + load(bias + c));
}

template <typename T>
__global__ void layernorm_kernel(T* out, const T* x, const T* weight, const T* bias, int C, float eps) {
  __shared__ float scratch[kWarpSize];
  const int64_t row = blockIdx.x;
  const T* xrow = x + row * C;
  float mean, rstd;
  row_statistics(xrow, C, eps, scratch, &mean, &rstd);
  normalize_row(out + row * C, xrow, weight, bias, C, mean, rstd);
}

template <typename T>
__global__ void residual_layernorm_kernel(T* residual, T* out, const T* delta, const T* weight, const T* bias, int C,
                                          float eps) {
  __shared__ float scratch[kWarpSize];
  const int64_t row = blockIdx.x;
  T* rrow = residual + row * C;
  const T* drow = delta + row * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) store(rrow + c, load(rrow + c) + load(drow + c));
  float mean, rstd;
  row_statistics(rrow, C, eps, scratch, &mean, &rstd);
  normalize_row(out + row * C, rrow, weight, bias, C, mean, rstd);
}

template <typename T>
void launch_layernorm(T* out, const T* x, const T* weight, const T* bias, int64_t rows, int C, float eps,
                      cudaStream_t stream) {
  if (rows == 0) return;
  layernorm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(out, x, weight, bias, C, eps);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

template <typename T>
void launch_residual_layernorm(T* residual, T* out, const T* delta, const T* weight, const T* bias, int64_t rows, int C,
                               float eps, cudaStream_t stream) {
  if (rows == 0) return;
  residual_layernorm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(residual, out, delta, weight, bias, C,
                                                                                  eps);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_layernorm(const PthrunCudaLayernormArgs& a) {
  use_device(a.device);
  dispatch_float(a.dtype, a.residual ? "residual_layernorm" : "layernorm", [&](auto tag) {
    using T = decltype(tag);
    const auto* weight = static_cast<const T*>(a.weight);
    const auto* bias = static_cast<const T*>(a.bias);
    if (a.residual)
      launch_residual_layernorm(static_cast<T*>(a.residual), static_cast<T*>(a.out), static_cast<const T*>(a.x), weight,
                                bias, a.rows, a.C, a.eps, native(a.stream));
    else
      launch_layernorm(static_cast<T*>(a.out), static_cast<const T*>(a.x), weight, bias, a.rows, a.C, a.eps,
                       native(a.stream));
  });
}

}  // namespace pthrun::kernels
