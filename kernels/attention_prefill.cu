// CUDA causal attention for prefill (see kernels/attention.h): flash-attention style, with an
// online softmax, so that no (T x T) score matrix exists anywhere.
//
// A block takes 32 queries of one head (grid: query tiles x heads) and walks the keys its
// queries can see, kKeys at a time. Per tile: K and V rows go to shared memory (f32, rows
// padded by one float so that column walks hit distinct banks), each query's scores against
// the tile are computed, the running max m and sum l are updated, the accumulator is rescaled
// by e^(m_old - m_new) and the tile's probabilities times V are added. Four threads share a
// query: each computes a quarter of its scores and owns a quarter of its output dimensions.
// Head sizes up to 128 (any, odd ones too): kernels are instantiated for HS <= 64 (32 keys
// per tile) and HS <= 128 (16 keys per tile), both within 48 KB of static shared memory.
// Arithmetic is f32 on CUDA cores; the scores and the softmax are the CPU reference's.
#include <cmath>

#include "kernels/attention_limits.h"
#include "kernels/cuda_common.cuh"
#include "kernels/cuda_launchers.h"

namespace pthrun::kernels {

namespace {

using namespace cuda_detail;

constexpr int kQueries = 32;
constexpr int kThreads = 128;
constexpr int kThreadsPerQuery = kThreads / kQueries;

template <typename T, int kMaxHS, int kKeys>
__global__ void __launch_bounds__(kThreads)
    attention_prefill_kernel(T* out, const T* qkv, const T* k_cache, const T* v_cache, int T_len, int pos0, int NH,
                             int HS, int T_max, float scale) {
  constexpr int kStride = kMaxHS + 1;
  constexpr int kKeysPerThread = kKeys / kThreadsPerQuery;
  constexpr int kDimsPerThread = kMaxHS / kThreadsPerQuery;
  __shared__ float q_s[kQueries * kStride];
  __shared__ float k_s[kKeys * kStride];
  __shared__ float v_s[kKeys * kStride];
  __shared__ float p_s[kQueries * (kKeys + 1)];

  const int h = blockIdx.y;
  const int q0 = blockIdx.x * kQueries;
  const int C = NH * HS;
  const int tid = threadIdx.x;
  const int qi = tid / kThreadsPerQuery;    // this thread's query in the tile
  const int part = tid % kThreadsPerQuery;  // its quarter: keys part + 4j, dimensions part + 4i
  const bool q_valid = q0 + qi < T_len;
  const int q_pos = pos0 + q0 + qi;

  // Queries, pre-scaled by 1/sqrt(HS); rows past T are zero and never written out.
  for (int e = tid; e < kQueries * HS; e += kThreads) {
    const int r = e / HS, c = e % HS;
    const int t = q0 + r;
    q_s[r * kStride + c] = t < T_len ? load(qkv + int64_t{t} * 3 * C + h * HS + c) * scale : 0.0f;
  }

  const T* k_head = k_cache + int64_t{h} * T_max * HS;
  const T* v_head = v_cache + int64_t{h} * T_max * HS;
  // Keys 0 .. key_end - 1 are visible to some query of this tile; later cache rows may hold
  // anything (even NaN bit patterns) and are replaced by zeros in shared memory.
  const int key_end = pos0 + min(q0 + kQueries, T_len);

  float m = -INFINITY, l = 0;
  float acc[kDimsPerThread];
#pragma unroll
  for (int i = 0; i < kDimsPerThread; ++i) acc[i] = 0;

  for (int k0 = 0; k0 < key_end; k0 += kKeys) {
    __syncthreads();  // the previous tile is consumed (and the queries are loaded)
    for (int e = tid; e < kKeys * HS; e += kThreads) {
      const int r = e / HS, c = e % HS;
      const int key = k0 + r;
      const bool in_range = key < key_end;
      k_s[r * kStride + c] = in_range ? load(k_head + int64_t{key} * HS + c) : 0.0f;
      v_s[r * kStride + c] = in_range ? load(v_head + int64_t{key} * HS + c) : 0.0f;
    }
    __syncthreads();

    float s[kKeysPerThread];
#pragma unroll
    for (int j = 0; j < kKeysPerThread; ++j) s[j] = 0;
    for (int c = 0; c < HS; ++c) {
      const float qc = q_s[qi * kStride + c];
#pragma unroll
      for (int j = 0; j < kKeysPerThread; ++j) s[j] += qc * k_s[(part + j * kThreadsPerQuery) * kStride + c];
    }
    float tile_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < kKeysPerThread; ++j) {
      const int key = k0 + part + j * kThreadsPerQuery;
      if (!q_valid || key > q_pos) s[j] = -INFINITY;  // causal mask
      tile_max = fmaxf(tile_max, s[j]);
    }
    // The query's four threads are adjacent lanes: combine with xor 1 and 2.
    tile_max = fmaxf(tile_max, __shfl_xor_sync(kFullMask, tile_max, 1));
    tile_max = fmaxf(tile_max, __shfl_xor_sync(kFullMask, tile_max, 2));
    const float m_new = fmaxf(m, tile_max);
    // m_new is -inf only for rows past T, which see no key; keep them at zero.
    const float correction = m_new == -INFINITY ? 1.0f : expf(m - m_new);
    float tile_sum = 0;
#pragma unroll
    for (int j = 0; j < kKeysPerThread; ++j) {
      const float p = s[j] == -INFINITY ? 0.0f : expf(s[j] - m_new);
      p_s[qi * (kKeys + 1) + part + j * kThreadsPerQuery] = p;
      tile_sum += p;
    }
    tile_sum += __shfl_xor_sync(kFullMask, tile_sum, 1);
    tile_sum += __shfl_xor_sync(kFullMask, tile_sum, 2);
    l = l * correction + tile_sum;
    m = m_new;
#pragma unroll
    for (int i = 0; i < kDimsPerThread; ++i) acc[i] *= correction;
    __syncthreads();  // p_s is complete

#pragma unroll 4
    for (int j = 0; j < kKeys; ++j) {
      const float p = p_s[qi * (kKeys + 1) + j];
#pragma unroll
      for (int i = 0; i < kDimsPerThread; ++i) {
        const int c = part + i * kThreadsPerQuery;
        if (c < HS) acc[i] += p * v_s[j * kStride + c];
      }
    }
  }

  if (!q_valid) return;
  T* orow = out + int64_t{q0 + qi} * C + h * HS;
#pragma unroll
  for (int i = 0; i < kDimsPerThread; ++i) {
    const int c = part + i * kThreadsPerQuery;
    if (c < HS) store(orow + c, acc[i] / l);
  }
}

template <typename T>
void launch_attention_prefill(T* out, const T* qkv, const T* k_cache, const T* v_cache, int T_len, int pos0, int NH,
                              int HS, int T_max, cudaStream_t stream) {
  if (T_len == 0) return;
  PTHRUN_ASSERT(HS <= kCudaMaxHeadSize);
  const dim3 grid(static_cast<unsigned>(ceil_div(T_len, kQueries)), static_cast<unsigned>(NH));
  const float scale = 1.0f / sqrtf(static_cast<float>(HS));
  if (HS <= 64)
    attention_prefill_kernel<T, 64, 32>
        <<<grid, kThreads, 0, stream>>>(out, qkv, k_cache, v_cache, T_len, pos0, NH, HS, T_max, scale);
  else
    attention_prefill_kernel<T, 128, 16>
        <<<grid, kThreads, 0, stream>>>(out, qkv, k_cache, v_cache, T_len, pos0, NH, HS, T_max, scale);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_attention_prefill(const PthrunCudaPrefillArgs& a) {
  use_device(a.device);
  dispatch_float(a.dtype, "attention_prefill", [&](auto tag) {
    using T = decltype(tag);
    launch_attention_prefill(static_cast<T*>(a.out), static_cast<const T*>(a.qkv), static_cast<const T*>(a.k_cache),
                             static_cast<const T*>(a.v_cache), a.T, a.pos0, a.NH, a.HS, a.T_max, native(a.stream));
  });
}

}  // namespace pthrun::kernels
