// CPU reference of the KV-cache append (see kernels/attention.h): row n's k and v, head by
// head, go to cache[sequences[n], h, positions[n], :]; a row of sequence -1 is skipped. A plain
// copy: no dtype conversion.
#include <cstring>

#include "kernels/attention.h"
#include "kernels/op_checks.h"
#include "runtime/error.h"

namespace pthrun::kernels::cpu {

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
  const std::size_t item = qkv.itemsize();
  const std::size_t row_bytes = static_cast<std::size_t>(d.HS) * item;
  const auto* src = static_cast<const char*>(qkv.data_ptr());
  auto* k = static_cast<char*>(k_cache.data_ptr());
  auto* v = static_cast<char*>(v_cache.data_ptr());
  for (int64_t n = 0; n < d.N; ++n) {
    if (seq[n] == kSkipRow) continue;
    const char* krow = src + static_cast<std::size_t>(n * 3 * d.C + d.C) * item;
    const char* vrow = krow + static_cast<std::size_t>(d.C) * item;
    for (int64_t h = 0; h < d.NH; ++h) {
      const int64_t slot = ((seq[n] * d.NH + h) * d.T_max + pos[n]) * d.HS;
      std::memcpy(k + static_cast<std::size_t>(slot) * item, krow + static_cast<std::size_t>(h) * row_bytes, row_bytes);
      std::memcpy(v + static_cast<std::size_t>(slot) * item, vrow + static_cast<std::size_t>(h) * row_bytes, row_bytes);
    }
  }
}

}  // namespace pthrun::kernels::cpu
