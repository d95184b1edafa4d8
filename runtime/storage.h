// Storage: reference-counted bytes on one device. Tensors are views on it (see tensor.h);
// several tensors may share one storage (tied weights, slices), and the bytes live as long as
// any of them does.
//
// Bytes come from an allocator (the device's, by default), or are borrowed: a CPU storage
// can point into memory owned elsewhere, such as a mapped checkpoint, and keeps that owner
// alive.
#pragma once

#include <cstddef>
#include <memory>

#include "runtime/allocator.h"
#include "runtime/device.h"

namespace pthrun {

class Storage {
 public:
  static std::shared_ptr<Storage> allocate(std::size_t nbytes, Device device, StreamId stream = 0);
  static std::shared_ptr<Storage> allocate(std::size_t nbytes, Allocator& allocator, StreamId stream = 0);
  static std::shared_ptr<Storage> borrow(void* data, std::size_t nbytes, Device device,
                                         std::shared_ptr<const void> owner);

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  // The allocation behind the bytes; null for borrowed memory.
  const Allocation* allocation() const { return allocation_ ? &allocation_ : nullptr; }

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

 private:
  Storage() = default;
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
  Allocation allocation_;
  std::shared_ptr<const void> owner_;
};

}  // namespace pthrun
