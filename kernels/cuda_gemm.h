// Which path the GPU's matrix products take, and a count of those that fell back to the naive
// kernel because cuBLASLt offered no algorithm (kernels/matmul.cu): such a product is correct
// but tens of times slower, so it must be visible. `pthrun kernel-bench` prints the count after
// its runs, `pthrun info` asks cuBLASLt about every GPT-2 product shape, and test_gpu_model
// fails when any of them would fall back.
//
//   GemmShape s{.N = 1, .I = 768, .O = 2304, .dtype = DType::bf16, .bias = true};
//   if (gemm_path(cuda_device(0), s) == GemmPath::naive) ...
//   for (const GemmFallback& f : gemm_fallbacks()) ...   // what ran on the naive kernel so far
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "runtime/device.h"
#include "runtime/dtype.h"

namespace pthrun::kernels {

// One product as linear() is called: out (N, O) = x (N, I) . W (+ bias) (GELU, tanh or erf).
struct GemmShape {
  int64_t N = 0, I = 0, O = 0;
  DType dtype = DType::f32;      // x, weight, bias
  DType out_dtype = DType::f32;
  WeightLayout layout = WeightLayout::out_in;
  bool bias = false, gelu = false, tf32 = false;
  // The largest power of two (at most 256) dividing the output's address: a row of a (B, V)
  // f32 logits buffer with V = 50257 is only 4-byte aligned.
  uint32_t out_alignment = 256;
  bool gelu_erf = false;  // with gelu: the exact (erf) form, else the tanh approximation

  std::string to_string() const;  // "bf16 (1, 768) x (768, 2304) out_in +bias -> bf16, out aligned 256"
  friend bool operator==(const GemmShape&, const GemmShape&) = default;
};

enum class GemmPath {
  fused,     // cuBLASLt, with the epilogue (if any) fused
  epilogue,  // cuBLASLt, then a separate bias/GELU kernel
  naive,     // no cuBLASLt algorithm: the one-thread-per-output kernel
};
const char* gemm_path_name(GemmPath path);

// The path a product of this shape takes on `device`, as cuBLASLt's heuristic answers now
// (operands 256-byte aligned, as the allocator gives them; the output as the shape says). Runs
// nothing; opens cuBLASLt.
GemmPath gemm_path(Device device, const GemmShape& shape);

struct GemmFallback {
  GemmShape shape;
  int64_t count = 0;
};
// The products that ran on the naive kernel in this process, by shape, in order of first fallback.
std::vector<GemmFallback> gemm_fallbacks();
int64_t gemm_fallback_count();
void reset_gemm_fallbacks();

// Bytes of cuBLASLt workspace a product takes from its stream (Stream::workspace): what NVIDIA
// suggests for Hopper.
inline constexpr std::size_t kGemmWorkspaceBytes = 32u << 20;

}  // namespace pthrun::kernels
