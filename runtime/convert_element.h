// Reading and writing one element of any dtype, shared by the CPU copy and the CUDA copy
// kernel so that both convert identically.
//
// Conversion rules (as PyTorch's where they are defined): floats round to nearest even, and a
// signaling NaN comes out quiet with its payload;
// integers narrow by wrapping modulo 2^bits; a float stored into an integer truncates toward
// zero and saturates at the type's range, NaN becomes 0 (PyTorch leaves that undefined); bool
// is "not zero".
#pragma once

#include <cstdint>
#include <cstring>

#include "runtime/dtype.h"
#include "runtime/half.h"

namespace pthrun {

// An element on its way between dtypes: integers stay exact in 64 bits.
struct Scalar {
  bool is_int;
  int64_t i;
  double f;
};

PTHRUN_HD Scalar load_element(const void* p, DType dtype) {
  switch (dtype) {
    // Quieted here, not left to the conversion to double, which the GPU makes and the CPU's
    // compiler may fold away.
    case DType::f32: return {false, 0, static_cast<double>(quiet_nan(*static_cast<const float*>(p)))};
    case DType::f16: return {false, 0, static_cast<double>(quiet_nan(f16_to_f32(*static_cast<const uint16_t*>(p))))};
    case DType::bf16: return {false, 0, static_cast<double>(quiet_nan(bf16_to_f32(*static_cast<const uint16_t*>(p))))};
    case DType::f64: return {false, 0, *static_cast<const double*>(p)};
    case DType::i64: return {true, *static_cast<const int64_t*>(p), 0};
    case DType::i32: return {true, *static_cast<const int32_t*>(p), 0};
    case DType::i16: return {true, *static_cast<const int16_t*>(p), 0};
    case DType::i8: return {true, *static_cast<const int8_t*>(p), 0};
    case DType::u8: return {true, *static_cast<const uint8_t*>(p), 0};
    case DType::boolean: return {true, *static_cast<const uint8_t*>(p) != 0, 0};
  }
  return {true, 0, 0};
}

PTHRUN_HD double scalar_as_double(Scalar s) { return s.is_int ? static_cast<double>(s.i) : s.f; }

PTHRUN_HD int64_t scalar_as_int(Scalar s, int64_t lo, int64_t hi) {
  if (s.is_int) return s.i;
  double f = s.f;
  if (!(f == f)) return 0;  // NaN
  if (f <= static_cast<double>(lo)) return lo;
  if (f >= static_cast<double>(hi)) return hi;
  return static_cast<int64_t>(f);
}

PTHRUN_HD void store_element(void* p, DType dtype, Scalar s) {
  switch (dtype) {
    case DType::f32: *static_cast<float*>(p) = static_cast<float>(scalar_as_double(s)); return;
    case DType::f16: *static_cast<uint16_t*>(p) = f32_to_f16(static_cast<float>(scalar_as_double(s))); return;
    case DType::bf16: *static_cast<uint16_t*>(p) = f32_to_bf16(static_cast<float>(scalar_as_double(s))); return;
    case DType::f64: *static_cast<double*>(p) = scalar_as_double(s); return;
    case DType::i64: *static_cast<int64_t*>(p) = scalar_as_int(s, INT64_MIN, INT64_MAX); return;
    case DType::i32: *static_cast<int32_t*>(p) = static_cast<int32_t>(scalar_as_int(s, INT32_MIN, INT32_MAX)); return;
    case DType::i16: *static_cast<int16_t*>(p) = static_cast<int16_t>(scalar_as_int(s, INT16_MIN, INT16_MAX)); return;
    case DType::i8: *static_cast<int8_t*>(p) = static_cast<int8_t>(scalar_as_int(s, INT8_MIN, INT8_MAX)); return;
    case DType::u8: *static_cast<uint8_t*>(p) = static_cast<uint8_t>(scalar_as_int(s, 0, UINT8_MAX)); return;
    case DType::boolean:
      *static_cast<uint8_t*>(p) = s.is_int ? s.i != 0 : s.f != 0;
      return;
  }
}

}  // namespace pthrun
