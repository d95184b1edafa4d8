// Overflow-checked size arithmetic. Every size or offset computed from a file or an argument
// goes through these, so a hostile value can never wrap around into a small allocation.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "runtime/error.h"

namespace pthrun {

template <typename T>
T checked_add(T a, T b, const char* what = "size") {
  T out;
  PTHRUN_CHECK(!__builtin_add_overflow(a, b, &out), what, " overflows: ", a, " + ", b);
  return out;
}

template <typename T>
T checked_mul(T a, T b, const char* what = "size") {
  T out;
  PTHRUN_CHECK(!__builtin_mul_overflow(a, b, &out), what, " overflows: ", a, " * ", b);
  return out;
}

// Product of non-negative dimensions, checked.
inline int64_t checked_product(std::initializer_list<int64_t> values, const char* what = "size") {
  int64_t out = 1;
  for (int64_t v : values) {
    PTHRUN_CHECK(v >= 0, what, ": negative dimension ", v);
    out = checked_mul<int64_t>(out, v, what);
  }
  return out;
}

constexpr uint64_t round_up(uint64_t value, uint64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace pthrun
