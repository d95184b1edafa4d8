// Picks the matrix-vector kernels of an instruction-set level (see cpu/gemv.h). Builds
// outside x86-64 have only the baseline kernels.
#include "kernels/cpu/gemv.h"

#include "runtime/half.h"

namespace pthrun::kernels::cpu {

const GemvKernels& gemv_kernels(CpuIsa isa) {
#if PTHRUN_X86_KERNELS
  switch (isa) {
    case CpuIsa::avx512_bf16:
      return gemv_kernels_avx512_bf16();
    case CpuIsa::avx512:
      return gemv_kernels_avx512();
    case CpuIsa::avx2:
      return gemv_kernels_avx2();
    case CpuIsa::baseline:
      break;
  }
#else
  (void)isa;
#endif
  return gemv_kernels_baseline();
}

void split_bf16(const float* x, int64_t n, uint16_t* hi, uint16_t* lo) {
  for (int64_t i = 0; i < n; ++i) {
    hi[i] = f32_to_bf16(x[i]);
    lo[i] = f32_to_bf16(x[i] - bf16_to_f32(hi[i]));
  }
}

}  // namespace pthrun::kernels::cpu
