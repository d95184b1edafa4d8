// Strided copy with dtype conversion, and fill, on the GPU.
//
// One thread per element of the (logical, row-major) index space; each thread turns its index
// into coordinates and both views' offsets. Conversions use convert_element.h, the same code
// as the CPU path, so the two agree bit for bit.
#include <cuda_runtime.h>

#include "runtime/checked_math.h"
#include "runtime/convert_element.h"
#include "runtime/cuda_check.h"
#include "runtime/cuda_copy.h"

namespace pthrun::detail {

namespace {

struct Layout {
  int rank;
  int64_t shape[kMaxDims];
  int64_t dst_strides[kMaxDims];
  int64_t src_strides[kMaxDims];
};

__device__ void offsets_of(const Layout& layout, int64_t index, int64_t* dst, int64_t* src) {
  *dst = 0;
  *src = 0;
  for (int d = layout.rank - 1; d >= 0; --d) {
    int64_t coordinate = index % layout.shape[d];
    index /= layout.shape[d];
    *dst += coordinate * layout.dst_strides[d];
    *src += coordinate * layout.src_strides[d];
  }
}

__global__ void copy_strided_kernel(char* dst, DType dst_dtype, int dst_size, const char* src,
                                    DType src_dtype, int src_size, Layout layout, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t d, s;
    offsets_of(layout, i, &d, &s);
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

Layout make_layout(const Shape& shape, const Strides& dst_strides, const Strides& src_strides) {
  Layout layout{};
  layout.rank = shape.size();
  for (int d = 0; d < shape.size(); ++d) {
    layout.shape[d] = shape[d];
    layout.dst_strides[d] = dst_strides[d];
    layout.src_strides[d] = src_strides.empty() ? 0 : src_strides[d];
  }
  return layout;
}

unsigned grid_for(int64_t n, int threads) {
  return static_cast<unsigned>(std::min<int64_t>(ceil_div(n, threads), 65535 * 8));
}

}  // namespace

void cuda_copy_strided(void* dst, DType dst_dtype, const Strides& dst_strides, const void* src,
                       DType src_dtype, const Strides& src_strides, const Shape& shape, void* stream) {
  const int64_t n = shape_numel(shape);
  if (n == 0) return;
  constexpr int threads = 256;
  copy_strided_kernel<<<grid_for(n, threads), threads, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<char*>(dst), dst_dtype, static_cast<int>(itemsize(dst_dtype)),
      static_cast<const char*>(src), src_dtype, static_cast<int>(itemsize(src_dtype)),
      make_layout(shape, dst_strides, src_strides), n);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

void cuda_fill(void* dst, DType dtype, const Strides& strides, const Shape& shape, double value,
               void* stream) {
  const int64_t n = shape_numel(shape);
  if (n == 0) return;
  constexpr int threads = 256;
  fill_kernel<<<grid_for(n, threads), threads, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<char*>(dst), dtype, static_cast<int>(itemsize(dtype)),
      make_layout(shape, strides, Strides{}), Scalar{false, 0, value}, n);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

}  // namespace pthrun::detail
