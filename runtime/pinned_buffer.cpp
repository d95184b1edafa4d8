#include "runtime/pinned_buffer.h"

#include <cstdlib>
#include <utility>

#include "runtime/checked_math.h"
#include "runtime/error.h"

#if PTHRUN_WITH_CUDA
#include "runtime/cuda_check.h"
#endif

namespace pthrun {

PinnedBuffer::PinnedBuffer(std::size_t bytes, Device device) : size_(bytes) {
  if (bytes == 0) return;
#if PTHRUN_WITH_CUDA
  if (device.is_cuda()) {
    set_current_device(device);
    cudaError_t status = cudaHostAlloc(&data_, bytes, cudaHostAllocDefault);
    if (status != cudaSuccess) {
      cudaGetLastError();
      throw Error(str("cannot pin ", format_bytes(static_cast<double>(bytes)), " of host memory: ",
                      cudaGetErrorString(status)));
    }
    pinned_ = true;
    return;
  }
#else
  (void)device;
#endif
  data_ = std::aligned_alloc(256, round_up(bytes, 256));
  PTHRUN_CHECK(data_, "cannot allocate ", format_bytes(static_cast<double>(bytes)), " of host memory");
}

PinnedBuffer::PinnedBuffer(PinnedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      pinned_(std::exchange(other.pinned_, false)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    pinned_ = std::exchange(other.pinned_, false);
  }
  return *this;
}

void PinnedBuffer::reset() noexcept {
#if PTHRUN_WITH_CUDA
  if (pinned_ && data_) PTHRUN_CUDA_WARN(cudaFreeHost(data_));
  else
#endif
    std::free(data_);
  data_ = nullptr;
  size_ = 0;
  pinned_ = false;
}

}  // namespace pthrun
