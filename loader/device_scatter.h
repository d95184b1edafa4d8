// A kernel that writes contiguous elements into a strided view on the GPU (CUDA builds only):
// element k of `src` goes to logical element first + k of the view (row-major order). Used
// for chunks of non-contiguous destinations; `stream` is a cudaStream_t.
#pragma once

#include <cstdint>

#include "runtime/dtype.h"
#include "runtime/shape.h"

namespace pthrun {

void scatter_elements_async(void* dst_at_zero, DType dtype, const Shape& shape, const Strides& strides,
                            int64_t first, int64_t count, const void* src, void* stream);

}  // namespace pthrun
