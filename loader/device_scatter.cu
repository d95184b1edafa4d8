#include "loader/device_scatter.h"

#include <cuda_runtime.h>

#include <algorithm>

#include "runtime/checked_math.h"
#include "runtime/cuda_check.h"

namespace pthrun {

namespace {

struct Layout {
  int rank;
  int64_t shape[kMaxDims];
  int64_t strides[kMaxDims];
};

template <typename T>
__global__ void scatter_kernel(T* dst, Layout layout, int64_t first, const T* src, int64_t count) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < count; k += int64_t(gridDim.x) * blockDim.x) {
    int64_t index = first + k, offset = 0;
    for (int d = layout.rank - 1; d >= 0; --d) {
      offset += index % layout.shape[d] * layout.strides[d];
      index /= layout.shape[d];
    }
    dst[offset] = src[k];
  }
}

template <typename T>
void launch(void* dst, const Layout& layout, int64_t first, int64_t count, const void* src, cudaStream_t stream) {
  constexpr int threads = 256;
  const auto blocks = static_cast<unsigned>(std::min<int64_t>(ceil_div(count, threads), 65535 * 8));
  scatter_kernel<T><<<blocks, threads, 0, stream>>>(static_cast<T*>(dst), layout, first, static_cast<const T*>(src), count);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void scatter_elements_async(void* dst_at_zero, DType dtype, const Shape& shape, const Strides& strides,
                            int64_t first, int64_t count, const void* src, void* stream) {
  if (count <= 0) return;
  Layout layout{};
  layout.rank = shape.size();
  for (int d = 0; d < shape.size(); ++d) {
    layout.shape[d] = shape[d];
    layout.strides[d] = strides[d];
  }
  auto s = static_cast<cudaStream_t>(stream);
  switch (itemsize(dtype)) {
    case 1: launch<uint8_t>(dst_at_zero, layout, first, count, src, s); return;
    case 2: launch<uint16_t>(dst_at_zero, layout, first, count, src, s); return;
    case 4: launch<uint32_t>(dst_at_zero, layout, first, count, src, s); return;
    case 8: launch<uint64_t>(dst_at_zero, layout, first, count, src, s); return;
  }
  PTHRUN_ASSERT(false);
}

}  // namespace pthrun
