// Shapes and strides: a small inline vector of at most 8 int64 dimensions.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

namespace pthrun {

inline constexpr int kMaxDims = 8;

class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<int64_t> values);
  explicit Dims(std::span<const int64_t> values);

  int size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t operator[](int i) const { return values_[static_cast<std::size_t>(i)]; }
  int64_t& operator[](int i) { return values_[static_cast<std::size_t>(i)]; }
  const int64_t* begin() const { return values_.data(); }
  const int64_t* end() const { return values_.data() + size_; }
  int64_t* begin() { return values_.data(); }
  int64_t* end() { return values_.data() + size_; }
  int64_t back() const { return values_[static_cast<std::size_t>(size_ - 1)]; }
  // Throws pthrun::Error beyond kMaxDims.
  void push_back(int64_t value);
  void erase(int index);
  friend bool operator==(const Dims& a, const Dims& b);
  // "[2, 3]"
  std::string to_string() const;

 private:
  std::array<int64_t, kMaxDims> values_{};
  int size_ = 0;
};

using Shape = Dims;
using Strides = Dims;

// Product of the dimensions, overflow-checked; 1 for a 0-d shape.
int64_t shape_numel(const Shape& shape);
// Row-major strides, in elements.
Strides contiguous_strides(const Shape& shape);

}  // namespace pthrun
