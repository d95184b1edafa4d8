// CUDA KV-cache append (see kernels/attention.h): one block per row of qkv, threads over its
// C = NH * HS key (and value) channels, each copied to cache[sequence, h, position, d]. A
// plain copy, no conversion. Rows of sequence kSkipRow are skipped by contract; rows whose
// sequence or position is otherwise out of range (the values are on the device, unchecked) are
// skipped too rather than written outside the cache.
#include "kernels/cuda_common.cuh"
#include "kernels/cuda_launchers.h"

namespace pthrun::kernels {

namespace {

using namespace cuda_detail;

constexpr int kThreads = 256;

template <typename T>
__global__ void kv_cache_append_kernel(T* k_cache, T* v_cache, const T* qkv, const int32_t* sequences,
                                       const int32_t* positions, int B, int NH, int T_max, int HS) {
  const int64_t n = blockIdx.x;
  const int32_t s = sequences[n], p = positions[n];
  if (s < 0 || s >= B || p < 0 || p >= T_max) return;
  const int C = NH * HS;
  const T* k = qkv + n * 3 * C + C;
  const T* v = k + C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const int h = c / HS, d = c % HS;
    const int64_t slot = ((int64_t{s} * NH + h) * T_max + p) * HS + d;
    k_cache[slot] = k[c];
    v_cache[slot] = v[c];
  }
}

template <typename T>
void launch_kv_cache_append(T* k_cache, T* v_cache, const T* qkv, const int32_t* sequences, const int32_t* positions,
                            int64_t N, int B, int NH, int T_max, int HS, cudaStream_t stream) {
  if (N == 0) return;
  kv_cache_append_kernel<<<static_cast<unsigned>(N), kThreads, 0, stream>>>(k_cache, v_cache, qkv, sequences, positions,
                                                                            B, NH, T_max, HS);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_kv_cache_append(const PthrunCudaKvAppendArgs& a) {
  use_device(a.device);
  dispatch_float(a.dtype, "kv_cache_append", [&](auto tag) {
    using T = decltype(tag);
    launch_kv_cache_append(static_cast<T*>(a.k_cache), static_cast<T*>(a.v_cache), static_cast<const T*>(a.qkv),
                           a.sequences, a.positions, a.N, a.B, a.NH, a.T_max, a.HS, native(a.stream));
  });
}

}  // namespace pthrun::kernels
