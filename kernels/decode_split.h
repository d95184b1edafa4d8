// How attention_decode splits each sequence's keys across thread blocks (flash-decoding),
// shared by the workspace size (computed without a device) and the CUDA launcher.
//
// Each (sequence, head) is cut into `splits` ranges of keys; each range's block writes a
// partial result (HS weighted sums of values, then the running max and the sum of
// exponentials) to the workspace, and a second kernel combines the ranges. The number of
// splits depends only on the cache's capacity and the device, never on the positions
// (which live on the device): the launch is the same at every decode step, so it can be
// captured once in a CUDA graph.
#pragma once

#include <cstdint>

#include "runtime/checked_math.h"

namespace pthrun::kernels {

inline constexpr int64_t kDecodeMaxSplits = 64;
// Below this many keys per split, another split costs more than it saves.
inline constexpr int64_t kDecodeMinKeysPerSplit = 16;

// The most splits a cache of `max_tokens` positions ever uses.
constexpr int64_t decode_max_splits(int64_t max_tokens) {
  const int64_t splits = ceil_div(max_tokens, kDecodeMinKeysPerSplit);
  return splits < 1 ? 1 : (splits > kDecodeMaxSplits ? kDecodeMaxSplits : splits);
}

// f32 elements of one partial result: HS sums, the max, the sum of exponentials.
constexpr int64_t decode_partial_elems(int64_t head_size) { return head_size + 2; }

}  // namespace pthrun::kernels
