#include "runtime/tensor.h"

#include <cstring>

#include "runtime/checked_math.h"
#include "runtime/error.h"

namespace pthrun {

Tensor::Tensor(std::shared_ptr<Storage> storage, DType dtype, const Shape& shape,
               const Strides& strides, int64_t storage_offset)
    : storage_(std::move(storage)), dtype_(dtype), shape_(shape), strides_(strides),
      storage_offset_(storage_offset) {
  PTHRUN_CHECK(storage_, "a tensor view needs a storage");
  PTHRUN_CHECK(shape_.size() == strides_.size(), "shape ", shape_.to_string(), " and strides ",
               strides_.to_string(), " differ in rank");
  PTHRUN_CHECK(storage_offset_ >= 0, "negative storage offset ", storage_offset_);
  const int64_t storage_elems = static_cast<int64_t>(storage_->nbytes() / pthrun::itemsize(dtype_));
  int64_t last = storage_offset_;  // the furthest element the view reaches
  bool empty = false;
  for (int d = 0; d < shape_.size(); ++d) {
    PTHRUN_CHECK(shape_[d] >= 0 && strides_[d] >= 0, "shape ", shape_.to_string(), " with strides ",
                 strides_.to_string(), " has a negative entry");
    if (shape_[d] == 0) empty = true;
    else last = checked_add(last, checked_mul<int64_t>(shape_[d] - 1, strides_[d], "view extent"), "view extent");
  }
  if (empty)
    PTHRUN_CHECK(storage_offset_ <= storage_elems, "empty view at offset ", storage_offset_,
                 " lies beyond its storage of ", storage_elems, " elements");
  else
    PTHRUN_CHECK(last < storage_elems, "view of shape ", shape_.to_string(), ", strides ",
                 strides_.to_string(), ", offset ", storage_offset_, " reaches element ", last,
                 " of a storage of ", storage_elems, " elements");
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device, StreamId stream) {
  return empty(shape, dtype, device_allocator(device), stream);
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Allocator& allocator, StreamId stream) {
  const auto nbytes = checked_mul<uint64_t>(static_cast<uint64_t>(shape_numel(shape)),
                                            pthrun::itemsize(dtype), "tensor size in bytes");
  return Tensor(Storage::allocate(nbytes, allocator, stream), dtype, shape, contiguous_strides(shape), 0);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.zero_();
  return t;
}

Tensor Tensor::from_host(const void* data, const Shape& shape, DType dtype, Device device) {
  Tensor host = empty(shape, dtype, cpu_device);
  if (host.nbytes()) std::memcpy(host.data_ptr(), data, host.nbytes());
  return device.is_cpu() ? host : host.to(device);
}

int Tensor::normalize_dim(int d) const {
  int n = shape_.size();
  PTHRUN_CHECK(d >= -n && d < n, "dimension ", d, " is out of range for a ", n, "-d tensor");
  return d < 0 ? d + n : d;
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int d = shape_.size() - 1; d >= 0; --d) {
    if (shape_[d] == 0) return true;
    if (shape_[d] != 1 && strides_[d] != expected) return false;
    expected *= shape_[d];
  }
  return true;
}

void* Tensor::data_ptr() const {
  PTHRUN_CHECK(storage_, "the tensor is undefined");
  return static_cast<char*>(storage_->data()) + storage_offset_ * static_cast<int64_t>(itemsize());
}

void Tensor::check_element_type(std::size_t size, bool exact) const {
  PTHRUN_CHECK(exact && size == itemsize(), "typed access of ", size, "-byte elements to a ",
               dtype_name(dtype_), " tensor");
}

Tensor Tensor::slice(int dim, int64_t start, int64_t end, int64_t step) const {
  dim = normalize_dim(dim);
  const int64_t n = shape_[dim];
  if (start < 0) start += n;
  if (end < 0) end += n;
  PTHRUN_CHECK(step > 0, "slice step must be positive, got ", step);
  PTHRUN_CHECK(0 <= start && start <= end && end <= n, "slice [", start, ", ", end,
               ") is out of range for dimension ", dim, " of size ", n);
  Tensor out = *this;
  out.shape_[dim] = (end - start + step - 1) / step;
  out.strides_[dim] = checked_mul(strides_[dim], step, "slice stride");
  out.storage_offset_ = checked_add(storage_offset_, checked_mul(start, strides_[dim], "slice offset"), "slice offset");
  return out;
}

Tensor Tensor::select(int dim, int64_t index) const {
  dim = normalize_dim(dim);
  if (index < 0) index += shape_[dim];
  PTHRUN_CHECK(index >= 0 && index < shape_[dim], "index ", index, " is out of range for dimension ",
               dim, " of size ", shape_[dim]);
  Tensor out = *this;
  out.storage_offset_ = checked_add(storage_offset_, checked_mul(index, strides_[dim], "select offset"), "select offset");
  out.shape_.erase(dim);
  out.strides_.erase(dim);
  return out;
}

Tensor Tensor::transpose(int dim0, int dim1) const {
  dim0 = normalize_dim(dim0);
  dim1 = normalize_dim(dim1);
  Tensor out = *this;
  std::swap(out.shape_[dim0], out.shape_[dim1]);
  std::swap(out.strides_[dim0], out.strides_[dim1]);
  return out;
}

Tensor Tensor::view(const Shape& requested) const {
  PTHRUN_CHECK(is_contiguous(), "view() needs a contiguous tensor; shape ", shape_.to_string(),
               " has strides ", strides_.to_string(), " (use reshape())");
  Shape shape = requested;
  int inferred = -1;
  int64_t known = 1;
  for (int d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      PTHRUN_CHECK(inferred < 0, "view(", requested.to_string(), "): only one dimension can be -1");
      inferred = d;
    } else {
      PTHRUN_CHECK(shape[d] >= 0, "view(", requested.to_string(), "): negative dimension");
      known = checked_mul(known, shape[d], "view size");
    }
  }
  if (inferred >= 0) {
    PTHRUN_CHECK(known > 0 && numel() % known == 0, "view(", requested.to_string(),
                 ") does not fit ", numel(), " elements");
    shape[inferred] = numel() / known;
  }
  PTHRUN_CHECK(shape_numel(shape) == numel(), "view(", requested.to_string(), ") has ",
               shape_numel(shape), " elements, the tensor ", numel());
  Tensor out = *this;
  out.shape_ = shape;
  out.strides_ = contiguous_strides(shape);
  return out;
}

Tensor Tensor::reshape(const Shape& shape) const {
  return is_contiguous() ? view(shape) : contiguous().view(shape);
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  Tensor out = empty(shape_, dtype_, device());
  out.copy_from(*this);
  return out;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor out = empty(shape_, dtype_, device);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor out = empty(shape_, dtype, device());
  out.copy_from(*this);
  return out;
}

}  // namespace pthrun
