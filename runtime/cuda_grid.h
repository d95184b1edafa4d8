// Grid sizes for the CUDA backend's grid-stride kernels (plugin sources only): enough blocks
// to cover n elements, capped, since each thread loops over every (blocks * threads)-th
// element anyway and a few hundred thousand blocks already fill any GPU.
#pragma once

#include <algorithm>
#include <cstdint>

#include "runtime/checked_math.h"

namespace pthrun {

inline constexpr int64_t kMaxGridStrideBlocks = 65535 * 8;

inline unsigned grid_stride_blocks(int64_t n, int threads) {
  return static_cast<unsigned>(std::clamp<int64_t>(ceil_div(n, threads), 1, kMaxGridStrideBlocks));
}

}  // namespace pthrun
