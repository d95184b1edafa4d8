// What the CUDA attention kernels accept, shared by the core's entries, which refuse anything
// else with a message (kernels/cuda_entries.cpp), and the plugin's launchers, which assert it.
#pragma once

#include <cstdint>

namespace pthrun::kernels {

// Per-thread register tiles and shared memory are sized for heads of at most 128 elements.
inline constexpr int64_t kCudaMaxHeadSize = 128;
// The grid's y and z dimensions (heads; sequences in decode) are at most 65535.
inline constexpr int64_t kCudaMaxGridY = 65535;

}  // namespace pthrun::kernels
