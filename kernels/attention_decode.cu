// CUDA attention for decode (see kernels/attention.h): one new query per sequence against its
// cached keys, split along the sequence (flash-decoding) so that a batch of one still keeps
// every multiprocessor busy.
//
// Kernel 1, grid (splits, NH, B): the block for split s of (b, h) takes its share of the
// sequence's keys 0 .. positions[b] (the share is computed from the length on the device, so
// the grid never depends on it: see kernels/decode_split.h) and runs an online softmax over
// them in tiles of 128 keys: warps compute scores (lanes split the head dimension), the block
// updates the running max and sum, and threads grouped by head dimension accumulate
// probabilities times values. It writes HS weighted sums, its max and its sum of exponentials
// to the workspace; an empty share writes (0, -inf, 0).
// Kernel 2, grid (NH, B): rescales the shares to the global max and combines them.
#include <algorithm>
#include <cmath>

#include "kernels/attention_limits.h"
#include "kernels/cuda_common.cuh"
#include "kernels/cuda_launchers.h"

namespace pthrun::kernels {

namespace {

using namespace cuda_detail;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / kWarpSize;
constexpr int kTileKeys = 128;
constexpr int kMaxHeadSize = kCudaMaxHeadSize;
// Blocks per multiprocessor the splits aim for at small batches.
constexpr int64_t kBlocksPerSM = 4;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    attention_decode_split_kernel(float* partial, const T* qkv, const T* k_cache, const T* v_cache,
                                  const int32_t* positions, int NH, int HS, int T_max, int splits, float scale) {
  __shared__ float q_s[kMaxHeadSize];
  __shared__ float p_s[kTileKeys];
  __shared__ float acc_s[kThreads];
  __shared__ float scratch[kWarpSize];
  const int split = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int C = NH * HS;
  const int tid = threadIdx.x, lane = tid % kWarpSize, warp = tid / kWarpSize;

  // Positions come from the device: clamp rather than read outside the cache. A position
  // below 0 leaves no key, and the combined output is NaN.
  const int L = static_cast<int>(min(max(int64_t{positions[b]} + 1, int64_t{0}), int64_t{T_max}));
  const int share = (L + splits - 1) / splits;
  const int k_begin = min(split * share, L), k_end = min(k_begin + share, L);

  for (int c = tid; c < HS; c += kThreads) q_s[c] = load(qkv + int64_t{b} * 3 * C + h * HS + c) * scale;
  __syncthreads();

  const int64_t head = (int64_t{b} * NH + h) * T_max * HS;
  const T* k_head = k_cache + head;
  const T* v_head = v_cache + head;
  // For the value sums, thread t handles dimension t % HS of every groups-th key.
  const int groups = kThreads / HS;
  const int group = tid / HS, dim = tid % HS;

  float m = -INFINITY, l = 0, acc = 0;
  for (int t0 = k_begin; t0 < k_end; t0 += kTileKeys) {
    const int n = min(kTileKeys, k_end - t0);
#pragma unroll 2
    for (int j = warp; j < n; j += kWarps) {
      const T* krow = k_head + int64_t{t0 + j} * HS;
      float s = 0;
      for (int c = lane; c < HS; c += kWarpSize) s += q_s[c] * load(krow + c);
      s = warp_sum(s);
      if (lane == 0) p_s[j] = s;
    }
    __syncthreads();
    float tile_max = -INFINITY;
    for (int j = tid; j < n; j += kThreads) tile_max = fmaxf(tile_max, p_s[j]);
    const float m_new = fmaxf(m, block_max(tile_max, scratch));
    const float correction = expf(m - m_new);  // 0 on the first tile, where m = -inf
    float tile_sum = 0;
    for (int j = tid; j < n; j += kThreads) {
      const float p = expf(p_s[j] - m_new);
      p_s[j] = p;
      tile_sum += p;
    }
    l = l * correction + block_sum(tile_sum, scratch);  // its barriers publish p_s
    m = m_new;
    acc *= correction;
    if (group < groups)
      for (int j = group; j < n; j += groups) acc += p_s[j] * load(v_head + int64_t{t0 + j} * HS + dim);
    __syncthreads();  // p_s is reused by the next tile
  }

  acc_s[tid] = group < groups ? acc : 0.0f;
  __syncthreads();
  float* out = partial + ((int64_t{b} * NH + h) * splits + split) * (HS + 2);
  if (tid < HS) {
    float total = 0;
    for (int g = 0; g < groups; ++g) total += acc_s[g * HS + tid];
    out[tid] = total;
  }
  if (tid == 0) {
    out[HS] = m;
    out[HS + 1] = l;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    attention_decode_combine_kernel(T* out, const float* partial, int NH, int HS, int splits) {
  const int h = blockIdx.x, b = blockIdx.y;
  const float* shares = partial + (int64_t{b} * NH + h) * splits * (HS + 2);
  float max = -INFINITY;
  for (int s = 0; s < splits; ++s) max = fmaxf(max, shares[s * (HS + 2) + HS]);
  float denominator = 0;
  for (int s = 0; s < splits; ++s) denominator += expf(shares[s * (HS + 2) + HS] - max) * shares[s * (HS + 2) + HS + 1];
  T* orow = out + int64_t{b} * NH * HS + h * HS;
  for (int c = threadIdx.x; c < HS; c += blockDim.x) {
    float numerator = 0;
    for (int s = 0; s < splits; ++s) numerator += expf(shares[s * (HS + 2) + HS] - max) * shares[s * (HS + 2) + c];
    store(orow + c, numerator / denominator);
  }
}

// Splits for a launch: enough blocks for kBlocksPerSM per multiprocessor, within what the
// workspace was sized for (max_splits, kernels/decode_split.h).
int decode_splits(int device, int64_t B, int64_t NH, int max_splits) {
  int sms = 0;
  PTHRUN_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  const int64_t wanted = ceil_div(kBlocksPerSM * sms, std::max<int64_t>(B * NH, 1));
  return static_cast<int>(std::clamp<int64_t>(wanted, 1, max_splits));
}

template <typename T>
void launch_attention_decode(T* out, float* partial, const T* qkv, const T* k_cache, const T* v_cache,
                             const int32_t* positions, int B, int NH, int HS, int T_max, int splits,
                             cudaStream_t stream) {
  if (B == 0) return;
  PTHRUN_ASSERT(HS <= kMaxHeadSize && B <= kCudaMaxGridY && NH <= kCudaMaxGridY);
  const float scale = 1.0f / sqrtf(static_cast<float>(HS));
  attention_decode_split_kernel<<<dim3(splits, NH, B), kThreads, 0, stream>>>(partial, qkv, k_cache, v_cache, positions,
                                                                              NH, HS, T_max, splits, scale);
  PTHRUN_CUDA_CHECK_LAUNCH();
  attention_decode_combine_kernel<<<dim3(NH, B), kThreads, 0, stream>>>(out, partial, NH, HS, splits);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_attention_decode(const PthrunCudaDecodeArgs& a) {
  use_device(a.device);
  const int splits = decode_splits(a.device, a.B, a.NH, a.max_splits);
  dispatch_float(a.dtype, "attention_decode", [&](auto tag) {
    using T = decltype(tag);
    launch_attention_decode(static_cast<T*>(a.out), a.workspace, static_cast<const T*>(a.qkv),
                            static_cast<const T*>(a.k_cache), static_cast<const T*>(a.v_cache), a.positions, a.B, a.NH,
                            a.HS, a.T_max, splits, native(a.stream));
  });
}

}  // namespace pthrun::kernels
