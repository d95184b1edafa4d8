// Copying a range of a view's elements between host views, converting the dtype: the one
// primitive under every host-side step of a load (mapping -> CPU destination, mapping ->
// pinned staging, first destination -> tied destinations).
//
//   ViewLayout src{info.shape, info.strides, info.dtype};
//   ViewLayout dst{shape, contiguous_strides(shape), DType::f32};
//   copy_elements(src_at_first, src, dst_at_first, dst, first, count);
//
// Both views have the same shape; elements are numbered in row-major (logical) order, and
// [first, first + count) is copied. Pointers address element `first` of each view, not
// element 0: a window of a compressed record may not contain element 0. Runs that are
// contiguous in both views become one memcpy or one conversion loop.
#pragma once

#include <cstdint>

#include "runtime/dtype.h"
#include "runtime/shape.h"

namespace pthrun {

struct ViewLayout {
  Shape shape;
  Strides strides;  // elements
  DType dtype;
};

// Offset in elements of logical element `index` from element 0.
int64_t element_offset(const Shape& shape, const Strides& strides, int64_t index);

void copy_elements(const void* src_at_first, const ViewLayout& src, void* dst_at_first, const ViewLayout& dst,
                   int64_t first, int64_t count);

}  // namespace pthrun
