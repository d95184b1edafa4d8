// Copies and fills of GPU views through the CUDA backend's kernels (runtime/copy_kernels.cu):
// what Tensor::copy_from and fill_ use between device tensors, and what the loader uses to
// place a staged chunk into a strided destination. Pointers are to each view's element 0;
// everything is enqueued on `stream`, which must be on the views' device.
#pragma once

#include <cstdint>

#include "runtime/dtype.h"
#include "runtime/shape.h"
#include "runtime/stream.h"

namespace pthrun {

// dst <- src, element by element in row-major order of `shape`, converting dtypes.
void cuda_copy_strided(void* dst, DType dst_dtype, const Strides& dst_strides, const void* src, DType src_dtype,
                       const Strides& src_strides, const Shape& shape, const Stream& stream);

// Every element of the view <- value, converted to dtype.
void cuda_fill(void* dst, DType dtype, const Strides& strides, const Shape& shape, double value, const Stream& stream);

// Logical elements [first, first + count) of the view (row-major order) <- `count` packed
// elements of the same dtype at `src` (device memory).
void cuda_scatter(void* dst, DType dtype, const Strides& strides, const Shape& shape, int64_t first, int64_t count,
                  const void* src, const Stream& stream);

}  // namespace pthrun
