#include "runtime/shape.h"

#include "runtime/checked_math.h"
#include "runtime/error.h"

namespace pthrun {

Dims::Dims(std::initializer_list<int64_t> values) : Dims(std::span<const int64_t>(values.begin(), values.size())) {}

Dims::Dims(std::span<const int64_t> values) {
  PTHRUN_CHECK(values.size() <= kMaxDims, "tensors have at most ", kMaxDims, " dimensions, got ",
               values.size());
  for (int64_t v : values) values_[static_cast<std::size_t>(size_++)] = v;
}

void Dims::push_back(int64_t value) {
  PTHRUN_CHECK(size_ < kMaxDims, "tensors have at most ", kMaxDims, " dimensions");
  values_[static_cast<std::size_t>(size_++)] = value;
}

void Dims::erase(int index) {
  PTHRUN_ASSERT(index >= 0 && index < size_);
  for (int i = index; i + 1 < size_; ++i) values_[static_cast<std::size_t>(i)] = values_[static_cast<std::size_t>(i + 1)];
  --size_;
}

bool operator==(const Dims& a, const Dims& b) {
  if (a.size_ != b.size_) return false;
  for (int i = 0; i < a.size_; ++i)
    if (a[i] != b[i]) return false;
  return true;
}

std::string Dims::to_string() const {
  std::string out = "[";
  for (int i = 0; i < size_; ++i) out += (i ? ", " : "") + std::to_string((*this)[i]);
  return out + "]";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    PTHRUN_CHECK(d >= 0, "negative dimension in shape ", shape.to_string());
    n = checked_mul<int64_t>(n, d, "element count");
  }
  return n;
}

Strides contiguous_strides(const Shape& shape) {
  Strides strides = shape;
  int64_t step = 1;
  for (int i = shape.size() - 1; i >= 0; --i) {
    strides[i] = step;
    step = checked_mul<int64_t>(step, std::max<int64_t>(shape[i], 1), "stride");
  }
  return strides;
}

}  // namespace pthrun
