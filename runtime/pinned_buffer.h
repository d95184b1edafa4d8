// Page-locked host memory, which the GPU reads and writes asynchronously (and which CUDA
// graphs may copy from), usable with every GPU of the machine. For the CPU, ordinary aligned
// memory.
//
//   PinnedBuffer staging(64 << 20, cuda_device(0));
//   memcpy_async(device_ptr, staging.data(), n, stream);
#pragma once

#include <cstddef>

#include "runtime/device.h"

namespace pthrun {

class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  // Pinned when `device` is a GPU; throws pthrun::Error when the memory cannot be had.
  PinnedBuffer(std::size_t bytes, Device device);
  PinnedBuffer(PinnedBuffer&& other) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() { reset(); }

  void* data() const { return data_; }
  template <typename T>
  T* as() const { return static_cast<T*>(data_); }
  std::size_t size() const { return size_; }
  bool pinned() const { return pinned_; }

 private:
  void reset() noexcept;
  void* data_ = nullptr;
  std::size_t size_ = 0;
  bool pinned_ = false;
};

}  // namespace pthrun
