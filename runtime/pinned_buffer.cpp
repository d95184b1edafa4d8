#include "runtime/pinned_buffer.h"

#include <cstdlib>
#include <utility>

#include "runtime/checked_math.h"
#include "runtime/cuda_plugin.h"
#include "runtime/error.h"

namespace pthrun {

PinnedBuffer::PinnedBuffer(std::size_t bytes, Device device) : size_(bytes) {
  if (bytes == 0) return;
  if (device.is_cuda()) {
    check_device(device);
    const PthrunCudaPluginV1& api = cuda_plugin();
    if (api.host_alloc(bytes, &data_) != PTHRUN_CUDA_OK) {
      int code = 0;
      const char* why = nullptr;
      api.last_error(&code, &why);
      throw Error(str("cannot pin ", format_bytes(static_cast<double>(bytes)), " of host memory: ", why));
    }
    pinned_ = true;
    return;
  }
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
  if (pinned_ && data_) cuda_warn(cuda_plugin().host_free(data_));
  else std::free(data_);
  data_ = nullptr;
  size_ = 0;
  pinned_ = false;
}

}  // namespace pthrun
