#include "loader/host_copy.h"

#include <algorithm>
#include <cstring>

#include "runtime/convert_element.h"
#include "runtime/error.h"
#include "runtime/tensor.h"

namespace pthrun {

namespace {

// The two views with size-1 dimensions dropped and neighbouring dimensions merged where both
// views are contiguous across them, so that runs are as long as possible.
struct Collapsed {
  int rank = 0;
  int64_t size[kMaxDims];
  int64_t src[kMaxDims];
  int64_t dst[kMaxDims];
};

Collapsed collapse(const ViewLayout& a, const ViewLayout& b) {
  Collapsed c;
  for (int d = 0; d < a.shape.size(); ++d) {
    if (a.shape[d] == 1) continue;
    if (c.rank > 0) {
      const int last = c.rank - 1;
      if (c.src[last] == a.strides[d] * a.shape[d] && c.dst[last] == b.strides[d] * a.shape[d]) {
        c.size[last] *= a.shape[d];
        c.src[last] = a.strides[d];
        c.dst[last] = b.strides[d];
        continue;
      }
    }
    c.size[c.rank] = a.shape[d];
    c.src[c.rank] = a.strides[d];
    c.dst[c.rank] = b.strides[d];
    ++c.rank;
  }
  if (c.rank == 0) {  // a single element
    c.rank = 1;
    c.size[0] = 1;
    c.src[0] = c.dst[0] = 1;
  }
  return c;
}

}  // namespace

int64_t element_offset(const Shape& shape, const Strides& strides, int64_t index) {
  int64_t offset = 0;
  for (int d = shape.size() - 1; d >= 0; --d) {
    if (shape[d] == 0) return 0;
    offset += index % shape[d] * strides[d];
    index /= shape[d];
  }
  return offset;
}

void copy_elements(const void* src_at_first, const ViewLayout& src, void* dst_at_first, const ViewLayout& dst,
                   int64_t first, int64_t count) {
  PTHRUN_ASSERT(src.shape == dst.shape);
  if (count <= 0) return;
  const Collapsed c = collapse(src, dst);
  const int inner = c.rank - 1;
  int64_t coords[kMaxDims] = {};
  for (int d = inner; d >= 0; --d) {
    coords[d] = first % c.size[d];
    first /= c.size[d];
  }
  const auto ssize = static_cast<int64_t>(itemsize(src.dtype)), dsize = static_cast<int64_t>(itemsize(dst.dtype));
  const auto* s = static_cast<const uint8_t*>(src_at_first);
  auto* t = static_cast<uint8_t*>(dst_at_first);
  int64_t s_rel = 0, d_rel = 0;  // elements from the first element copied
  while (count > 0) {
    const int64_t run = std::min(count, c.size[inner] - coords[inner]);
    const uint8_t* from = s + s_rel * ssize;
    uint8_t* to = t + d_rel * dsize;
    if (c.src[inner] == 1 && c.dst[inner] == 1) {
      convert_host(from, src.dtype, to, dst.dtype, static_cast<std::size_t>(run));
    } else if (src.dtype == dst.dtype) {
      for (int64_t k = 0; k < run; ++k)
        std::memcpy(to + k * c.dst[inner] * dsize, from + k * c.src[inner] * ssize, static_cast<std::size_t>(ssize));
    } else {
      for (int64_t k = 0; k < run; ++k)
        store_element(to + k * c.dst[inner] * dsize, dst.dtype, load_element(from + k * c.src[inner] * ssize, src.dtype));
    }
    count -= run;
    coords[inner] += run;
    s_rel += run * c.src[inner];
    d_rel += run * c.dst[inner];
    for (int d = inner; d > 0 && coords[d] == c.size[d]; --d) {
      coords[d] = 0;
      s_rel += c.src[d - 1] - c.size[d] * c.src[d];
      d_rel += c.dst[d - 1] - c.size[d] * c.dst[d];
      ++coords[d - 1];
    }
  }
}

}  // namespace pthrun
