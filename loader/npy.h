// NumPy .npy files (format 1.0): what `pthrun dump` writes and tests read references from.
//
//   write_npy("wte.npy", tensor);   // any device, any strides; written contiguous, C order
//
// Element types: float32 '<f4', float16 '<f2', float64 '<f8', int64 '<i8', int32 '<i4',
// int16 '<i2', int8 '|i1', uint8 '|u1', bool '|b1'. NumPy has no bfloat16, so bf16 is widened
// to float32, which represents every bf16 value exactly.
#pragma once

#include <string>

#include "runtime/tensor.h"

namespace pthrun {

void write_npy(const std::string& path, const Tensor& tensor);

// The header text for a C-order array of this dtype and shape, padded as the format wants.
std::string npy_header(DType stored_dtype, const Shape& shape);

}  // namespace pthrun
