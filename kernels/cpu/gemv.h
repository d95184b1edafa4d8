// The matrix-vector kernels of the CPU linear layer (cpu/matmul.cpp calls them), one table per
// instruction-set level (kernels/cpu_isa.h).
//
//   const GemvKernels& k = gemv_kernels(active_cpu_isa());
//   k.out_in[kGemvBf16](args, {o0, o1});   // out[n, o0:o1] for every row n of x, bf16 weights
//
// Decode multiplies one to a few rows of activations by every weight, once per token: the
// time is that of reading the weights from memory. So each thread streams one contiguous block
// of weight rows front to back (one sequential stream per core, which the hardware prefetchers
// follow at full speed; reading four rows side by side costs a core a third of its bandwidth
// on this machine), loads and widens each weight once for all rows of x, and accumulates in
// f32.
//
// Every element is computed the same way whatever the thread count and the other rows of x
// (MatmulOptions::row_invariant): out[n, o] is bias[o] plus the dot product of row n of x and
// weight o, summed in an order fixed by I and the level.
//
// Each level lives in its own file compiled for that level (gemv_avx512.cpp, gemv_avx2.cpp,
// gemv_avx512_bf16.cpp, gemv_baseline.cpp). Those files define everything in an anonymous
// namespace and call no inline function or template of another header (only intrinsics, which
// are static): no code compiled for AVX-512 can be merged by the linker into code that runs on
// a smaller CPU.
#pragma once

#include <cstdint>

#include "kernels/cpu_isa.h"

namespace pthrun::kernels::cpu {

// Weight element types, as the tables index them.
enum GemvType { kGemvF32, kGemvBf16, kGemvF16, kGemvInt8, kGemvTypes };

struct GemvArgs {
  const float* x;       // (N, I), row-major
  int64_t N, I, O;      // rows of x, inputs, outputs
  const void* w;        // (O, I) out_in or (I, O) in_out, of the table entry's element type
  const float* scales;  // int8: (O, groups), else null
  int64_t group;        // int8: inputs per scale
  const float* bias;    // (O) or null
  float* out;           // (N, O), row-major
  // For the bf16 dot product (vdpbf16ps) only: x split into two bf16 halves, x = hi + lo to
  // 16 significant bits, (N, I) each; the products of a bf16 weight with both are exact in f32.
  const uint16_t* x_hi;
  const uint16_t* x_lo;
};

// The outputs one call computes, [o0, o1), and the ones its thread computes next, [next0,
// next1) (empty: none; see run_chunks_ahead in cpu/cpu_util.h). An out_in call that reads its
// weights in blocks asks for the next call's first block while it computes its last, and the
// next call, told `asked`, does not read that block in again.
struct GemvRows {
  int64_t o0, o1;
  int64_t next0 = 0, next1 = 0;
  bool asked = false;
};

// Computes out[n, o] for o in [rows.o0, rows.o1) and every n < N.
using GemvFn = void (*)(const GemvArgs& args, const GemvRows& rows);
// Writes rows [o0, o1) of an out_in weight ((o1 - o0) x I values) as f32 to dst, for products
// of many rows, which multiply f32 panels in CBLAS. int8 values are multiplied by their scales.
using WidenFn = void (*)(float* dst, const GemvArgs& args, int64_t o0, int64_t o1);
// Writes columns [o0, o1) of every row of an in_out weight as f32 to dst (I x (o1 - o0)).
using WidenColumnsFn = void (*)(float* dst, const GemvArgs& args, int64_t o0, int64_t o1);
// Writes n floats as f16, rounded to nearest even: runtime/half.h's f32_to_f16, bit for bit
// (an f16 KV cache's append; F16C's conversion where the level has it).
using RoundF16Fn = void (*)(uint16_t* dst, const float* src, int64_t n);
// Reads every cache line of [p, p + bytes) once, with nothing else in flight: a core brings
// memory in at its full speed only when its loads do not wait behind arithmetic (see
// gemv_out_in in cpu/gemv_impl.h), so what is about to be multiplied is read in first.
using FetchFn = void (*)(const void* p, int64_t bytes);

// Bytes of weight rows per block of a many-row out_in product (cpu/gemv_impl.h's gemv_out_in):
// a quarter of a core's L2 cache, so that the block being multiplied, the next one coming in
// and the rows of x fit in it together. 256 KiB where L2 is not known.
int64_t weight_block_bytes();

struct GemvKernels {
  CpuIsa isa;
  GemvFn out_in[kGemvTypes];
  GemvFn in_out[kGemvTypes];  // f32, bf16, f16 (int8 is always out_in)
  WidenFn widen_rows[kGemvTypes];
  WidenColumnsFn widen_columns[kGemvTypes];
  RoundF16Fn round_f16;
  FetchFn fetch;
  bool bf16_pairs;  // out_in bf16 reads x_hi and x_lo
};

const GemvKernels& gemv_kernels(CpuIsa isa);

// x (n floats) split into bf16 halves for the kernels with bf16_pairs: x = hi + lo to 16
// significant bits.
void split_bf16(const float* x, int64_t n, uint16_t* hi, uint16_t* lo);

// The tables of each level, defined in their own files (absent ones fall back in gemv.cpp).
const GemvKernels& gemv_kernels_baseline();
const GemvKernels& gemv_kernels_avx2();
const GemvKernels& gemv_kernels_avx512();
const GemvKernels& gemv_kernels_avx512_bf16();

}  // namespace pthrun::kernels::cpu
