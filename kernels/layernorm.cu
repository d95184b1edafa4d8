// CUDA LayerNorm and residual + LayerNorm (see kernels/layernorm.h).
//
// One block of 256 threads per row. Thread t owns elements t, t + 256, ... of its row in every
// pass, so the passes need no synchronisation beyond the reductions: (residual) residual +=
// delta, stored rounded; mean; biased variance as the mean of squared deviations (two passes,
// as on the CPU); the affine map. Later passes re-read the row, which by then sits in L1/L2.
// An in-place call (out == x, or out == delta) is safe: a thread writes only elements it has
// already read, and reads no one else's.
#include "kernels/cuda_common.cuh"
#include "kernels/kernel_check.h"
#include "kernels/layernorm.h"
#include "kernels/op_checks.h"

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
  PTHRUN_CHECK(rows <= INT32_MAX, "layernorm: ", rows, " rows exceed one grid");
  layernorm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(out, x, weight, bias, C, eps);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

template <typename T>
void launch_residual_layernorm(T* residual, T* out, const T* delta, const T* weight, const T* bias, int64_t rows, int C,
                               float eps, cudaStream_t stream) {
  if (rows == 0) return;
  PTHRUN_CHECK(rows <= INT32_MAX, "residual_layernorm: ", rows, " rows exceed one grid");
  residual_layernorm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(residual, out, delta, weight, bias, C,
                                                                                  eps);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void cuda::layernorm(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                     const Stream& stream) {
  const int64_t C = check_layernorm(out, x, weight, bias, eps);
  check_int32_range("layernorm", "the row length", C);
  use_device(out.device());
  dispatch_float(out.dtype(), "layernorm", [&](auto tag) {
    using T = decltype(tag);
    launch_layernorm(static_cast<T*>(out.data_ptr()), static_cast<const T*>(x.data_ptr()),
                     static_cast<const T*>(weight.data_ptr()), static_cast<const T*>(bias.data_ptr()), row_count(out),
                     static_cast<int>(C), eps, native(stream));
  });
}

void cuda::residual_layernorm(const Tensor& residual, const Tensor& out, const Tensor& delta, const Tensor& weight,
                              const Tensor& bias, float eps, const Stream& stream) {
  const int64_t C = check_residual_layernorm(residual, out, delta, weight, bias, eps);
  check_int32_range("residual_layernorm", "the row length", C);
  use_device(out.device());
  dispatch_float(out.dtype(), "residual_layernorm", [&](auto tag) {
    using T = decltype(tag);
    launch_residual_layernorm(static_cast<T*>(residual.data_ptr()), static_cast<T*>(out.data_ptr()),
                              static_cast<const T*>(delta.data_ptr()), static_cast<const T*>(weight.data_ptr()),
                              static_cast<const T*>(bias.data_ptr()), row_count(out), static_cast<int>(C), eps,
                              native(stream));
  });
}

}  // namespace pthrun::kernels
