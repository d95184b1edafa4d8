// The CUDA backend's runtime kernels (plugin sources only; runtime/copy_kernels.cu): the
// launchers behind the copy, fill and busy_wait entries of cuda_plugin_api.h. Each makes the
// args' device current, launches on the args' stream and checks the launch.
#pragma once

#include <cstdint>

#include "runtime/cuda_plugin_api.h"

namespace pthrun {

void launch_copy(const PthrunCudaCopyArgs& args);
void launch_fill(const PthrunCudaFillArgs& args);
// One thread that waits `microseconds` on the GPU's clock: a stream that is busy for a known
// time, for tests of stream ordering.
void launch_busy_wait(int device, void* stream, uint32_t microseconds);

}  // namespace pthrun
