// Picks the matrix-vector kernels of an instruction-set level (see cpu/gemv.h). Builds
// outside x86-64 have only the baseline kernels.
#include "kernels/cpu/gemv.h"

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

}  // namespace pthrun::kernels::cpu
