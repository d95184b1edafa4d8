// CPU reference of the KV-cache append (see kernels/attention.h): row n's k and v, head by
// head, go to cache[sequences[n], h, positions[n], :]; a row of sequence -1 is skipped. A copy
// when the cache holds the activations' dtype; rounded to nearest even when it holds 16 bits
// of f32 activations.
#include <cstring>
#include <type_traits>

#include "kernels/attention.h"
#include "kernels/cpu/gemv.h"
#include "kernels/cpu/kv_dispatch.h"
#include "kernels/cpu_isa.h"
#include "kernels/element.h"
#include "kernels/op_checks.h"
#include "runtime/error.h"

namespace pthrun::kernels::cpu {

namespace {

template <typename Cache, typename T>
void copy_row(Cache* dst, const T* src, int64_t n) {
  if constexpr (std::is_same_v<Cache, T>) {
    std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(T));
  } else if constexpr (std::is_same_v<Cache, f16> && std::is_same_v<T, float>) {
    // F16C where the CPU has it: the portable rounding took 0.9 ms a layer for 128 rows.
    gemv_kernels(active_cpu_isa()).round_f16(reinterpret_cast<uint16_t*>(dst), src, n);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = from_f32<Cache>(to_f32(src[i]));
  }
}

}  // namespace

void kv_cache_append(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv, const Tensor& sequences,
                     const Tensor& positions, int num_heads, const Stream& stream) {
  (void)stream;  // work on the CPU is synchronous
  const AttentionDims d = check_kv_cache_append(k_cache, v_cache, qkv, sequences, positions, num_heads);
  const int32_t* seq = sequences.data<int32_t>();
  const int32_t* pos = positions.data<int32_t>();
  for (int64_t n = 0; n < d.N; ++n) {
    if (seq[n] == kSkipRow) continue;
    PTHRUN_CHECK(seq[n] >= 0 && seq[n] < d.B, "kv_cache_append: sequence ", seq[n], " at row ", n,
                 " is outside the cache's ", d.B, " sequences");
    PTHRUN_CHECK(pos[n] >= 0 && pos[n] < d.T_max, "kv_cache_append: position ", pos[n], " at row ", n,
                 " is outside the cache's ", d.T_max, " positions");
  }
  dispatch_kv(qkv.dtype(), k_cache.dtype(), "kv_cache_append", [&](auto tag, auto cache_tag) {
    using T = decltype(tag);
    using Cache = decltype(cache_tag);
    const T* src = static_cast<const T*>(qkv.data_ptr());
    Cache* k = static_cast<Cache*>(k_cache.data_ptr());
    Cache* v = static_cast<Cache*>(v_cache.data_ptr());
    for (int64_t n = 0; n < d.N; ++n) {
      if (seq[n] == kSkipRow) continue;
      const T* krow = src + n * 3 * d.C + d.C;
      const T* vrow = krow + d.C;
      for (int64_t h = 0; h < d.NH; ++h) {
        const int64_t slot = ((seq[n] * d.NH + h) * d.T_max + pos[n]) * d.HS;
        copy_row(k + slot, krow + h * d.HS, d.HS);
        copy_row(v + slot, vrow + h * d.HS, d.HS);
      }
    }
  });
}

}  // namespace pthrun::kernels::cpu
