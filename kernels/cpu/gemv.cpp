// Picks the matrix-vector kernels of an instruction-set level (see cpu/gemv.h). Builds
// outside x86-64 have only the baseline kernels.
#include "kernels/cpu/gemv.h"

#include <unistd.h>

#include <algorithm>

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

// A quarter: on a Zen 3 VM (512 KiB of L2 a core) a 16-prompt decode step of gpt2-small took
// 42.6-44.6 ms in 128 KiB blocks against 45.2-48.1 in the 256 KiB tuned on Zen 5 (1 MiB of
// L2), two of which, the block and the next one coming in, filled the Zen 3 core's L2 with x
// still to fit; 64 KiB blocks were no faster. L2 sizes outside 256 KiB - 2 MiB count as the
// nearer end.
int64_t weight_block_bytes() {
  static const int64_t bytes = [] {
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);  // glibc reads it from CPUID; 0 if unknown
    return l2 > 0 ? std::clamp<int64_t>(l2 / 4, int64_t{64} << 10, int64_t{512} << 10) : int64_t{256} << 10;
  }();
  return bytes;
}

void split_bf16(const float* x, int64_t n, uint16_t* hi, uint16_t* lo) {
  for (int64_t i = 0; i < n; ++i) {
    hi[i] = f32_to_bf16(x[i]);
    lo[i] = f32_to_bf16(x[i] - bf16_to_f32(hi[i]));
  }
}

}  // namespace pthrun::kernels::cpu
