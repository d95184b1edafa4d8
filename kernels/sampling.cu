// CUDA sampling (see kernels/sampling.h; the arithmetic is kernels/sampling_rules.h, shared
// with the CPU reference, which reaches the same token by sorting).
//
// One block of 1024 threads per row, one launch for the whole batch, no sorting:
//   1. every token's ranking key goes to the workspace; a block argmax gives the max (greedy
//      stops here);
//   2. top-k: a radix select over the 32-bit keys, 8 bits a pass, counting tokens per bucket,
//      finds the key of the k-th ranked token; among tokens tied at that key, an index-order
//      scan finds the last one kept. "Kept by top-k" is then: key above, or key equal and
//      index at most that one;
//   3. top-p: the same radix select, but weighing each top-k token by its fixed-point weight,
//      finds where the ranked mass reaches the target, and the same tie scan cuts it;
//   4. the draw: an index-order scan of the kept weights finds the first token whose running
//      sum exceeds r.
// Every sum is of 64-bit integers, so the order in which threads add cannot change a result:
// the GPU draws the CPU's token. Histograms are kept in 8 copies (by thread) so that threads
// adding to the same bucket mostly hit different words.
#include <climits>
#include <cmath>

#include "kernels/cuda_common.cuh"
#include "kernels/op_checks.h"
#include "kernels/sampling.h"
#include "kernels/sampling_rules.h"

namespace pthrun::kernels {

namespace {

using namespace cuda_detail;

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / kWarpSize;
constexpr int kBuckets = 256;
constexpr int kCopies = 8;

using u64 = unsigned long long;

struct SampleShared {
  u64 histogram[kCopies][kBuckets];
  u64 totals[kBuckets];
  u64 scan[kWarpSize];
  uint32_t best_key[kWarpSize];
  int best_index[kWarpSize];
  uint32_t selected_bucket;
  u64 selected_remaining;
  int selected_index;
};

// Token i passes when its key is above `key`, or equal and i <= index; {0, V - 1} passes all
// (every real key is above 0: see order_key).
struct Threshold {
  uint32_t key;
  int index;
};

__device__ __forceinline__ bool passes(uint32_t key, int i, Threshold t) {
  return key > t.key || (key == t.key && i <= t.index);
}

// The largest key and, among equals, the lowest index, returned to every thread.
__device__ void block_argmax(uint32_t& key, int& index, SampleShared& sh) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  for (int round = 0; round < 2; ++round) {
    for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) {
      const uint32_t other_key = __shfl_xor_sync(kFullMask, key, offset);
      const int other_index = __shfl_xor_sync(kFullMask, index, offset);
      if (other_key > key || (other_key == key && other_index < index)) key = other_key, index = other_index;
    }
    if (round == 1) break;
    if (lane == 0) sh.best_key[warp] = key, sh.best_index[warp] = index;
    __syncthreads();
    key = lane < kWarps ? sh.best_key[lane] : 0u;
    index = lane < kWarps ? sh.best_index[lane] : INT_MAX;
  }
  __syncthreads();  // best_* may be rewritten by a later call
}

// Exclusive prefix sum over the block in thread order; *total gets the block's sum.
__device__ u64 block_exclusive_scan(u64 value, u64* total, SampleShared& sh) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  u64 inclusive = value;
  for (int offset = 1; offset < kWarpSize; offset <<= 1) {
    const u64 v = __shfl_up_sync(kFullMask, inclusive, offset);
    if (lane >= offset) inclusive += v;
  }
  if (lane == kWarpSize - 1) sh.scan[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    u64 warp_total = lane < kWarps ? sh.scan[lane] : 0;
    for (int offset = 1; offset < kWarpSize; offset <<= 1) {
      const u64 v = __shfl_up_sync(kFullMask, warp_total, offset);
      if (lane >= offset) warp_total += v;
    }
    sh.scan[lane] = warp_total;  // inclusive over warps
  }
  __syncthreads();
  const u64 before = (warp > 0 ? sh.scan[warp - 1] : 0) + inclusive - value;
  *total = sh.scan[kWarps - 1];
  __syncthreads();
  return before;
}

// Sum of weight(i) over the row.
template <typename Weight>
__device__ u64 block_total(int V, Weight weight, SampleShared& sh) {
  u64 sum = 0;
  for (int i = threadIdx.x; i < V; i += blockDim.x) sum += weight(i);
  u64 total;
  block_exclusive_scan(sum, &total, sh);
  return total;
}

// The first index (in index order) at which the running sum of weight(i) reaches `target`
// (1 <= target <= the row's total). Each thread scans a contiguous chunk.
template <typename Weight>
__device__ int first_reaching(int V, u64 target, Weight weight, SampleShared& sh) {
  const int chunk = (V + kThreads - 1) / kThreads;
  const int begin = min(static_cast<int>(threadIdx.x) * chunk, V), end = min(begin + chunk, V);
  if (threadIdx.x == 0) sh.selected_index = V - 1;  // only if target exceeded the total: a bug
  u64 local = 0;
  for (int i = begin; i < end; ++i) local += weight(i);
  u64 total;
  const u64 before = block_exclusive_scan(local, &total, sh);
  if (before < target && target <= before + local) {
    u64 sum = before;
    for (int i = begin; i < end; ++i) {
      sum += weight(i);
      if (sum >= target) {
        sh.selected_index = i;
        break;
      }
    }
  }
  __syncthreads();
  const int index = sh.selected_index;
  __syncthreads();
  return index;
}

// Radix selection from the top: the key K at which the weight of tokens ranked at or above it
// (among those for which candidate(key, i) holds) first reaches `target`. Returns K and what
// is still missing once every token with a larger key is counted (1 .. the weight at K).
template <typename Candidate, typename Weight>
__device__ void radix_select(const uint32_t* keys, int V, u64 target, Candidate candidate, Weight weight,
                             SampleShared& sh, uint32_t* selected_key, u64* remaining_out) {
  uint32_t prefix = 0, mask = 0;
  u64 remaining = target;
  const int copy = threadIdx.x % kCopies;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < kCopies * kBuckets; i += blockDim.x) (&sh.histogram[0][0])[i] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
      const uint32_t key = keys[i];
      if ((key & mask) != prefix || !candidate(key, i)) continue;
      const u64 w = weight(key);
      if (w) atomicAdd(&sh.histogram[copy][(key >> shift) & 0xffu], w);
    }
    __syncthreads();
    if (threadIdx.x < kBuckets) {
      u64 sum = 0;
      for (int c = 0; c < kCopies; ++c) sum += sh.histogram[c][threadIdx.x];
      sh.totals[threadIdx.x] = sum;
    }
    __syncthreads();
    if (threadIdx.x < kWarpSize) {
      // Lane j covers buckets 255 - 8j down to 248 - 8j: lane order is descending bucket order.
      const int lane = threadIdx.x;
      u64 local = 0;
      for (int j = 0; j < 8; ++j) local += sh.totals[255 - 8 * lane - j];
      u64 inclusive = local;
      for (int offset = 1; offset < kWarpSize; offset <<= 1) {
        const u64 v = __shfl_up_sync(kFullMask, inclusive, offset);
        if (lane >= offset) inclusive += v;
      }
      u64 above = inclusive - local;
      if (above < remaining && remaining <= inclusive) {
        for (int j = 0; j < 8; ++j) {
          const int bucket = 255 - 8 * lane - j;
          if (above + sh.totals[bucket] >= remaining) {
            sh.selected_bucket = static_cast<uint32_t>(bucket);
            sh.selected_remaining = remaining - above;
            break;
          }
          above += sh.totals[bucket];
        }
      }
    }
    __syncthreads();
    prefix |= sh.selected_bucket << shift;
    mask |= 0xffu << shift;
    remaining = sh.selected_remaining;
  }
  *selected_key = prefix;
  *remaining_out = remaining;
}

__global__ void __launch_bounds__(kThreads)
    sample_kernel(int32_t* tokens, const float* logits, uint32_t* workspace_keys, const RowSampling* rows, int V) {
  __shared__ SampleShared sh;
  const int row = blockIdx.x;
  const RowSampling how = rows[row];
  const float temperature = how.params.temperature, top_p = how.params.top_p;
  const int top_k = how.params.top_k;
  const float* l = logits + int64_t{row} * V;
  uint32_t* keys = workspace_keys + int64_t{row} * V;
  const bool greedy = temperature == 0.0f;

  uint32_t best_key = 0;
  int best_index = V;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    const uint32_t key = order_key(scaled_logit(l[i], greedy ? 1.0f : temperature));
    keys[i] = key;
    if (key > best_key) best_key = key, best_index = i;
  }
  block_argmax(best_key, best_index, sh);  // its barriers also publish keys[]
  const float max_x = key_value(best_key);
  if (greedy || !isfinite(max_x)) {
    if (threadIdx.x == 0) tokens[row] = best_index;
    return;
  }
  auto weight_of = [max_x](uint32_t key) -> u64 { return fixed_weight(key_value(key), max_x); };

  Threshold keep_k{0, V - 1};
  if (top_k > 0 && top_k < V) {
    auto any = [](uint32_t, int) { return true; };
    auto one = [](uint32_t) -> u64 { return 1; };
    uint32_t key;
    u64 ties;
    radix_select(keys, V, static_cast<u64>(top_k), any, one, sh, &key, &ties);
    auto tied = [&](int i) -> u64 { return keys[i] == key; };
    keep_k = {key, first_reaching(V, ties, tied, sh)};
  }

  Threshold keep_p{0, V - 1};
  if (top_p < 1.0f) {
    auto in_top_k = [&](uint32_t k, int i) { return passes(k, i, keep_k); };
    auto top_k_weight = [&](int i) -> u64 { return in_top_k(keys[i], i) ? weight_of(keys[i]) : 0; };
    const u64 top_k_total = block_total(V, top_k_weight, sh);
    uint32_t key;
    u64 missing;
    radix_select(keys, V, top_p_target(top_p, top_k_total), in_top_k, weight_of, sh, &key, &missing);
    // Tokens tied at `key` weigh the same: enough of them, in index order, to cover `missing`.
    const u64 tie_weight = weight_of(key);
    const u64 ties = (missing + tie_weight - 1) / tie_weight;
    auto tied = [&](int i) -> u64 { return keys[i] == key && in_top_k(key, i); };
    keep_p = {key, first_reaching(V, ties, tied, sh)};
  }

  auto kept_weight = [&](int i) -> u64 {
    const uint32_t key = keys[i];
    return passes(key, i, keep_k) && passes(key, i, keep_p) ? weight_of(key) : 0;
  };
  const u64 total = block_total(V, kept_weight, sh);
  const u64 r = draw_target(sampling_uniform(how.seed, how.step, how.stream), total);
  const int token = first_reaching(V, r + 1, kept_weight, sh);
  if (threadIdx.x == 0) tokens[row] = token;
}

// `rows` is in host memory; it goes to `device_rows`, in the workspace, before the kernel runs.
void launch_sample(int32_t* tokens, const float* logits, uint32_t* workspace_keys, const RowSampling* rows,
                   RowSampling* device_rows, int64_t B, int V, cudaStream_t stream) {
  if (B == 0) return;
  PTHRUN_CHECK(B <= INT32_MAX, "sample: ", B, " rows exceed one grid");
  // From pageable memory: the call returns once the bytes are staged, so `rows` may go away.
  PTHRUN_CUDA_CHECK(cudaMemcpyAsync(device_rows, rows, static_cast<std::size_t>(B) * sizeof(RowSampling),
                                    cudaMemcpyHostToDevice, stream));
  sample_kernel<<<static_cast<unsigned>(B), kThreads, 0, stream>>>(tokens, logits, workspace_keys, device_rows, V);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void cuda::sample(const Tensor& tokens, const Tensor& logits, std::span<const RowSampling> rows,
                  const Tensor& workspace, const Stream& stream) {
  const SamplingDims d = check_sample(tokens, logits, rows, workspace);
  use_device(tokens.device());
  // The workspace is f32 by contract: the kernel keeps 32-bit keys in it, then the rows'
  // parameters (sampling_workspace_elems counts both; 8-byte alignment holds since the key
  // area is rounded up to an even number of floats below).
  float* base = workspace.data<float>();
  const int64_t key_elems = d.B * d.V;
  auto* device_rows = reinterpret_cast<RowSampling*>(base + key_elems + (key_elems % 2));
  launch_sample(tokens.data<int32_t>(), logits.data<float>(), reinterpret_cast<uint32_t*>(base), rows.data(),
                device_rows, d.B, static_cast<int>(d.V), native(stream));
}

}  // namespace pthrun::kernels
