// CUDA elementwise kernels (see kernels/elementwise.h): residual add, and bias + GELU.
// One thread per element over a grid-stride loop; f32 arithmetic; in-place calls are safe since
// every element is read before it is written by the same thread.
#include "kernels/cuda_common.cuh"
#include "kernels/elementwise.h"
#include "kernels/gelu.cuh"
#include "kernels/op_checks.h"
#include "runtime/checked_math.h"

namespace pthrun::kernels {

namespace {

using namespace cuda_detail;

constexpr int kThreads = 256;
// Enough blocks to fill any GPU several times over; the grid-stride loop does the rest.
constexpr int64_t kMaxBlocks = 65535;

template <typename T>
__global__ void add_kernel(T* out, const T* a, const T* b, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    store(out + i, load(a + i) + load(b + i));
}

template <typename T>
__global__ void bias_gelu_kernel(T* out, const T* x, const T* bias, int64_t n, int64_t C) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float v = load(x + i) + (bias ? load(bias + i % C) : 0.0f);
    store(out + i, gelu(v));
  }
}

int blocks_for(int64_t n) { return static_cast<int>(std::min(ceil_div(n, kThreads), kMaxBlocks)); }

template <typename T>
void launch_add(T* out, const T* a, const T* b, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  add_kernel<<<blocks_for(n), kThreads, 0, stream>>>(out, a, b, n);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

template <typename T>
void launch_bias_gelu(T* out, const T* x, const T* bias, int64_t n, int64_t C, cudaStream_t stream) {
  if (n == 0) return;
  bias_gelu_kernel<<<blocks_for(n), kThreads, 0, stream>>>(out, x, bias, n, C);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void cuda::add(const Tensor& out, const Tensor& a, const Tensor& b, const Stream& stream) {
  check_add(out, a, b);
  use_device(out.device());
  dispatch_float(out.dtype(), "add", [&](auto tag) {
    using T = decltype(tag);
    launch_add(static_cast<T*>(out.data_ptr()), static_cast<const T*>(a.data_ptr()),
               static_cast<const T*>(b.data_ptr()), out.numel(), native(stream));
  });
}

void cuda::bias_gelu(const Tensor& out, const Tensor& x, const Tensor& bias, const Stream& stream) {
  const int64_t C = check_bias_gelu(out, x, bias);
  use_device(out.device());
  dispatch_float(out.dtype(), "bias_gelu", [&](auto tag) {
    using T = decltype(tag);
    launch_bias_gelu(static_cast<T*>(out.data_ptr()), static_cast<const T*>(x.data_ptr()),
                     bias.defined() ? static_cast<const T*>(bias.data_ptr()) : nullptr, out.numel(), C, native(stream));
  });
}

}  // namespace pthrun::kernels
