// The element types of the CPU attention kernels: the activations' T, and the KV cache's,
// which is T or, for f32 activations, bf16 or f16 (the rule op_checks.h enforces; note
// [KV cache dtype] in model/gpt2.h).
//
//   dispatch_kv(qkv.dtype(), k_cache.dtype(), "kv_cache_append", [&](auto tag, auto cache_tag) {
//     using T = decltype(tag);           // float, bf16 or f16
//     using Cache = decltype(cache_tag); // T, or bf16/f16 when T is float
//   });
#pragma once

#include <type_traits>

#include "kernels/element.h"

namespace pthrun::kernels::cpu {

template <typename F>
void dispatch_kv(DType activations, DType cache, const char* op, F&& f) {
  dispatch_float(activations, op, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>) {
      dispatch_float(cache, op, [&](auto cache_tag) { f(tag, cache_tag); });
    } else {
      f(tag, tag);
    }
  });
}

}  // namespace pthrun::kernels::cpu
