// The CUDA backend's runtime kernels (runtime/cuda_copy.h is the core's side): strided copy
// with dtype conversion, fill, and a kernel that only waits.
//
// Copy and fill: one thread per element of the logical (row-major) index range
// [first, first + count); each thread turns its index into coordinates and the views' offsets.
// A packed source holds exactly the range's elements, one after the other (the loader's staged
// chunk). Conversions use convert_element.h, the same code as the CPU path, so the two agree
// bit for bit.
#include <cuda_runtime.h>

#include "runtime/convert_element.h"
#include "runtime/copy_kernels.h"
#include "runtime/cuda_check.h"
#include "runtime/cuda_grid.h"

namespace pthrun {

namespace {

constexpr int kThreads = 256;

struct Layout {
  int rank;
  int64_t shape[PTHRUN_CUDA_MAX_DIMS];
  int64_t dst_strides[PTHRUN_CUDA_MAX_DIMS];
  int64_t src_strides[PTHRUN_CUDA_MAX_DIMS];
};

__device__ void offsets_of(const Layout& layout, int64_t index, int64_t* dst, int64_t* src) {
  *dst = 0;
  *src = 0;
  for (int d = layout.rank - 1; d >= 0; --d) {
    const int64_t coordinate = index % layout.shape[d];
    index /= layout.shape[d];
    *dst += coordinate * layout.dst_strides[d];
    *src += coordinate * layout.src_strides[d];
  }
}

__global__ void copy_kernel(char* dst, DType dst_dtype, int dst_size, const char* src, DType src_dtype, int src_size,
                            Layout layout, int64_t first, int64_t count, bool src_packed) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < count; k += int64_t(gridDim.x) * blockDim.x) {
    int64_t d, s;
    offsets_of(layout, first + k, &d, &s);
    if (src_packed) s = k;
    store_element(dst + d * dst_size, dst_dtype, load_element(src + s * src_size, src_dtype));
  }
}

__global__ void fill_kernel(char* dst, DType dtype, int size, Layout layout, Scalar value, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t d, unused;
    offsets_of(layout, i, &d, &unused);
    store_element(dst + d * size, dtype, value);
  }
}

// Keeps one thread busy for `nanoseconds` of %globaltimer, the GPU's nanosecond clock.
__global__ void busy_wait_kernel(unsigned long long nanoseconds) {
  unsigned long long begin, now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(begin));
  do {
    __nanosleep(1000);
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - begin < nanoseconds);
}

DType dtype_of(int value) { return static_cast<DType>(value); }

Layout layout_of(int rank, const int64_t* shape, const int64_t* dst_strides, const int64_t* src_strides) {
  PTHRUN_CHECK(rank >= 0 && rank <= PTHRUN_CUDA_MAX_DIMS, "copy: rank ", rank, " outside 0 .. ", PTHRUN_CUDA_MAX_DIMS);
  Layout layout{};
  layout.rank = rank;
  for (int d = 0; d < rank; ++d) {
    layout.shape[d] = shape[d];
    layout.dst_strides[d] = dst_strides[d];
    layout.src_strides[d] = src_strides ? src_strides[d] : 0;
  }
  return layout;
}

}  // namespace

void launch_copy(const PthrunCudaCopyArgs& a) {
  if (a.count <= 0) return;
  PTHRUN_CUDA_CHECK(cudaSetDevice(a.device));
  const DType dst = dtype_of(a.dst.dtype), src = dtype_of(a.src.dtype);
  copy_kernel<<<grid_stride_blocks(a.count, kThreads), kThreads, 0, static_cast<cudaStream_t>(a.stream)>>>(
      static_cast<char*>(a.dst.data), dst, static_cast<int>(itemsize(dst)), static_cast<const char*>(a.src.data), src,
      static_cast<int>(itemsize(src)), layout_of(a.rank, a.shape, a.dst.strides, a.src_packed ? nullptr : a.src.strides),
      a.first, a.count, a.src_packed != 0);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

void launch_fill(const PthrunCudaFillArgs& a) {
  const Layout layout = layout_of(a.rank, a.shape, a.dst.strides, nullptr);
  int64_t n = 1;
  for (int d = 0; d < a.rank; ++d) n *= a.shape[d];
  if (n <= 0) return;
  PTHRUN_CUDA_CHECK(cudaSetDevice(a.device));
  const DType dtype = dtype_of(a.dst.dtype);
  fill_kernel<<<grid_stride_blocks(n, kThreads), kThreads, 0, static_cast<cudaStream_t>(a.stream)>>>(
      static_cast<char*>(a.dst.data), dtype, static_cast<int>(itemsize(dtype)), layout, Scalar{false, 0, a.value}, n);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

void launch_busy_wait(int device, void* stream, uint32_t microseconds) {
  PTHRUN_CUDA_CHECK(cudaSetDevice(device));
  busy_wait_kernel<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(uint64_t{microseconds} * 1000);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

}  // namespace pthrun
