// Tensor: a view (dtype, shape, strides in elements, offset in elements) on a Storage.
//
//   Tensor w = Tensor::empty({768, 2304}, DType::bf16, cuda_device(0));
//   Tensor q = w.slice(1, 0, 768);          // a view: no copy
//   Tensor h = q.to(cpu_device).to(DType::f32);
//   std::cout << h.to_string();
//
// Views never copy; contiguous(), to() and clone() do. Every size and offset is
// overflow-checked, and a view is checked to lie inside its storage when it is made.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/allocator.h"
#include "runtime/dtype.h"
#include "runtime/error.h"
#include "runtime/shape.h"
#include "runtime/storage.h"

namespace pthrun {

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<int16_t>() { return DType::i16; }
template <> constexpr DType dtype_of<int8_t>() { return DType::i8; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_of<bool>() { return DType::boolean; }

class Stream;

class Tensor {
 public:
  Tensor() = default;  // undefined: holds nothing
  // A checked view on `storage`.
  Tensor(std::shared_ptr<Storage> storage, DType dtype, const Shape& shape, const Strides& strides,
         int64_t storage_offset);

  static Tensor empty(const Shape& shape, DType dtype, Device device = cpu_device, StreamId stream = 0);
  static Tensor empty(const Shape& shape, DType dtype, Allocator& allocator, StreamId stream = 0);
  static Tensor zeros(const Shape& shape, DType dtype, Device device = cpu_device);
  // Copies numel * itemsize bytes of row-major host data.
  static Tensor from_host(const void* data, const Shape& shape, DType dtype, Device device = cpu_device);
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = cpu_device) {
    PTHRUN_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ",
                 values.size(), " values for shape ", shape.to_string());
    return from_host(values.data(), shape, dtype_of<T>(), device);
  }

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  int64_t storage_offset() const { return storage_offset_; }
  int dim() const { return shape_.size(); }
  int64_t size(int d) const { return shape_[normalize_dim(d)]; }
  int64_t stride(int d) const { return strides_[normalize_dim(d)]; }
  int64_t numel() const { return shape_numel(shape_); }
  std::size_t itemsize() const { return pthrun::itemsize(dtype_); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * itemsize(); }
  Device device() const { return storage_ ? storage_->device() : cpu_device; }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  bool is_contiguous() const;

  // The first element's address.
  void* data_ptr() const;
  // Typed access; T must match the dtype (uint16_t stands for f16 and bf16 bits).
  template <typename T>
  T* data() const {
    check_element_type(sizeof(T), is_dtype<T>());
    return static_cast<T*>(data_ptr());
  }

  Tensor slice(int dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int dim, int64_t index) const;
  Tensor transpose(int dim0, int dim1) const;
  // A view with another shape; the tensor must be contiguous. One dimension may be -1.
  Tensor view(const Shape& shape) const;
  // A view when possible, else a contiguous copy.
  Tensor reshape(const Shape& shape) const;

  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  // Copies `src` (same shape; any dtype, device and strides) into this tensor. Work on a GPU
  // goes to `stream`; without one it is ordered after all the device's work and finished on
  // return (see copy.cpp). Copies that involve the host return when the host side is done with.
  // Const: a Tensor is a handle; these change the elements it views, not the view.
  void copy_from(const Tensor& src, const Stream* stream = nullptr) const;
  // Every element <- value; on a GPU with the same stream rule as copy_from.
  void fill_(double value, const Stream* stream = nullptr) const;
  void zero_() const { fill_(0); }

  // The values in logical (row-major) order, converted to double on the host: for tests.
  std::vector<double> to_doubles() const;
  std::vector<float> to_floats() const;
  // "Tensor(float32, shape=[2, 3], cpu)" then the values; large tensors are summarised.
  std::string to_string() const;

 private:
  int normalize_dim(int d) const;
  void check_element_type(std::size_t size, bool exact) const;
  template <typename T>
  bool is_dtype() const {
    if constexpr (std::is_same_v<T, uint16_t>) return dtype_ == DType::f16 || dtype_ == DType::bf16;
    else return dtype_ == dtype_of<T>();
  }

  std::shared_ptr<Storage> storage_;
  DType dtype_ = DType::f32;
  Shape shape_;
  Strides strides_;
  int64_t storage_offset_ = 0;
};

// Elementwise conversion of n contiguous host elements (same-dtype copies are memcpy).
void convert_host(const void* src, DType src_dtype, void* dst, DType dst_dtype, std::size_t n);

}  // namespace pthrun
