// The runtime's own CUDA kernels: strided copy with dtype conversion, and fill (CUDA builds
// only; internal to runtime/). Pointers are to each view's first element; `stream` is a
// cudaStream_t.
#pragma once

#include "runtime/dtype.h"
#include "runtime/shape.h"

namespace pthrun::detail {

void cuda_copy_strided(void* dst, DType dst_dtype, const Strides& dst_strides, const void* src,
                       DType src_dtype, const Strides& src_strides, const Shape& shape, void* stream);

void cuda_fill(void* dst, DType dtype, const Strides& strides, const Shape& shape, double value,
               void* stream);

}  // namespace pthrun::detail
