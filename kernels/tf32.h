// Whether fp32 products on the GPU may use TF32 tensor cores: set by allow_tf32()
// (kernels/matmul.h), read by the cuBLASLt wrapper when it builds a plan.
#pragma once

namespace pthrun::kernels {

bool tf32_allowed();

}  // namespace pthrun::kernels
