// The x86 instruction-set levels the CPU matrix-vector kernels are compiled for, and which one
// runs. The best level the machine has is used unless a caller asks for at most a lower one:
// the tests run every level the machine can, and `pthrun kernel-bench --cpu-isa` compares them.
//
//   limit_cpu_isa(CpuIsa::avx2);      // from now on at most AVX2 (throws for an unknown name)
//   CpuIsa isa = active_cpu_isa();    // min(the limit, detected_cpu_isa())
//
// Levels: baseline (portable C++, whatever the build targets), avx2 (AVX2 + FMA + F16C),
// avx512 (AVX-512 F/BW/VL/DQ + FMA + F16C: x86-64-v4), avx512_bf16 (avx512 + AVX512_BF16's
// vdpbf16ps). Outside x86-64 only baseline exists.
#pragma once

#include <optional>
#include <string_view>

namespace pthrun::kernels {

enum class CpuIsa { baseline, avx2, avx512, avx512_bf16 };

CpuIsa detected_cpu_isa();
CpuIsa active_cpu_isa();
// Limits the level for every later product in the process (a benchmark's or a test's choice).
void limit_cpu_isa(CpuIsa limit);
const char* cpu_isa_name(CpuIsa isa);
std::optional<CpuIsa> parse_cpu_isa(std::string_view name);

}  // namespace pthrun::kernels
