// Detection of the CPU's instruction-set level (see kernels/cpu_isa.h).
#include "kernels/cpu_isa.h"

#include <algorithm>
#include <atomic>

namespace pthrun::kernels {

namespace {

CpuIsa detect() {
#if PTHRUN_X86_KERNELS
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (avx512 && __builtin_cpu_supports("avx512bf16")) return CpuIsa::avx512_bf16;
  if (avx512) return CpuIsa::avx512;
  if (avx2) return CpuIsa::avx2;
#endif
  return CpuIsa::baseline;
}

std::atomic<CpuIsa> limit{CpuIsa::avx512_bf16};

}  // namespace

CpuIsa detected_cpu_isa() {
  static const CpuIsa isa = detect();
  return isa;
}

CpuIsa active_cpu_isa() { return std::min(limit.load(std::memory_order_relaxed), detected_cpu_isa()); }

void limit_cpu_isa(CpuIsa level) { limit.store(level, std::memory_order_relaxed); }

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::baseline:
      return "baseline";
    case CpuIsa::avx2:
      return "avx2";
    case CpuIsa::avx512:
      return "avx512";
    case CpuIsa::avx512_bf16:
      return "avx512_bf16";
  }
  return "?";
}

std::optional<CpuIsa> parse_cpu_isa(std::string_view name) {
  for (CpuIsa isa : {CpuIsa::baseline, CpuIsa::avx2, CpuIsa::avx512, CpuIsa::avx512_bf16})
    if (name == cpu_isa_name(isa)) return isa;
  return std::nullopt;
}

}  // namespace pthrun::kernels
