// Device-side helpers shared by the CUDA kernels (include from .cu files only): warp and block
// reductions, the element loads/stores of kernels/element.h, and the host-side glue every
// launcher needs (the stream handle, making the args' device current, the dtype switch).
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernels/element.h"
#include "runtime/cuda_check.h"
#include "runtime/cuda_grid.h"

namespace pthrun::kernels::cuda_detail {

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;

inline cudaStream_t native(void* stream) { return static_cast<cudaStream_t>(stream); }

// Launchers run with the output's device current, so that a launch on cuda:1 works from a
// thread whose current device is cuda:0.
inline void use_device(int device) { PTHRUN_CUDA_CHECK(cudaSetDevice(device)); }

// dispatch_float (kernels/element.h) for a dtype that crossed the plugin boundary as a number.
template <typename F>
decltype(auto) dispatch_float(int dtype, const char* op, F&& f) {
  return ::pthrun::kernels::dispatch_float(static_cast<DType>(dtype), op, std::forward<F>(f));
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

// The sum over the block, returned to every thread. blockDim.x must be a multiple of 32;
// `scratch` is 32 floats of shared memory, free again when this returns.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : 0.0f;
  v = warp_sum(v);
  __syncthreads();  // scratch may be reused by the caller's next reduction
  return v;
}

// The max over the block, returned to every thread; as block_sum.
__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  v = warp_max(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : -INFINITY;
  v = warp_max(v);
  __syncthreads();
  return v;
}

// Element access in f32 whatever the storage type.
template <typename T>
__device__ __forceinline__ float load(const T* p) {
  return to_f32(*p);
}
template <typename T>
__device__ __forceinline__ void store(T* p, float v) {
  *p = from_f32<T>(v);
}

}  // namespace pthrun::kernels::cuda_detail
