// The element types of the floating tensors the kernels take, their conversions to and from
// f32, and the switch from a runtime DType to a compile-time element type.
//
//   dispatch_float(x.dtype(), "layernorm", [&](auto tag) {
//     using T = decltype(tag);                    // float, bf16 or f16
//     const T* p = static_cast<const T*>(x.data_ptr());
//     float v = to_f32(p[0]);
//   });
//
// Every kernel loads to f32, computes in f32 and stores rounded to nearest even. The host
// conversions are runtime/half.h's; on the device the hardware conversions are used, which
// round the same way (they differ from half.h only in the payload bits of a NaN).
#pragma once

#include <cstdint>
#include <utility>

#include "runtime/dtype.h"
#include "runtime/error.h"
#include "runtime/half.h"

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

namespace pthrun::kernels {

// 16-bit storage types: the bits as the tensor holds them.
struct bf16 {
  uint16_t bits;
};
struct f16 {
  uint16_t bits;
};

PTHRUN_HD float to_f32(float v) { return v; }
PTHRUN_HD float to_f32(bf16 v) { return bf16_to_f32(v.bits); }
PTHRUN_HD float to_f32(f16 v) {
#if defined(__CUDA_ARCH__)
  return __half2float(__ushort_as_half(v.bits));
#else
  return f16_to_f32(v.bits);
#endif
}

template <typename T>
PTHRUN_HD T from_f32(float v);
template <>
PTHRUN_HD float from_f32<float>(float v) {
  return v;
}
template <>
PTHRUN_HD bf16 from_f32<bf16>(float v) {
#if defined(__CUDA_ARCH__)
  return {__bfloat16_as_ushort(__float2bfloat16_rn(v))};
#else
  return {f32_to_bf16(v)};
#endif
}
template <>
PTHRUN_HD f16 from_f32<f16>(float v) {
#if defined(__CUDA_ARCH__)
  return {__half_as_ushort(__float2half_rn(v))};
#else
  return {f32_to_f16(v)};
#endif
}

// Calls f(T{}) with T the element type of `dtype`: float, bf16 or f16. Other dtypes throw,
// naming the operation.
template <typename F>
decltype(auto) dispatch_float(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::f32:
      return std::forward<F>(f)(float{});
    case DType::bf16:
      return std::forward<F>(f)(bf16{});
    case DType::f16:
      return std::forward<F>(f)(f16{});
    default:
      break;
  }
  throw Error(str(op, ": dtype ", dtype_name(dtype), " is not supported (expected float32, bfloat16 or float16)"));
}

}  // namespace pthrun::kernels
