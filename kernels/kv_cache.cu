// CUDA KV-cache append (see kernels/attention.h): one block per row of qkv, threads over its
// C = NH * HS key (and value) channels, each copied to cache[sequence, h, position, d]. A
// plain copy, no conversion. Rows of sequence kSkipRow are skipped by contract; rows whose
// sequence or position is otherwise out of range (the values are on the device, unchecked) are
// skipped too rather than written outside the cache.
#include "kernels/attention.h"
#include "kernels/cuda_common.cuh"
#include "kernels/kernel_check.h"
#include "kernels/op_checks.h"

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

void cuda::kv_cache_append(const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv, const Tensor& sequences,
                           const Tensor& positions, int num_heads, const Stream& stream) {
  const AttentionDims d = check_kv_cache_append(k_cache, v_cache, qkv, sequences, positions, num_heads);
  const char* op = "kv_cache_append";
  check_int32_range(op, "the number of rows", d.N);
  check_int32_range(op, "the number of sequences", d.B);
  check_int32_range(op, "the cache's positions", d.T_max);
  check_int32_range(op, "the row width", 3 * d.C);
  use_device(k_cache.device());
  dispatch_float(k_cache.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    launch_kv_cache_append(static_cast<T*>(k_cache.data_ptr()), static_cast<T*>(v_cache.data_ptr()),
                           static_cast<const T*>(qkv.data_ptr()), sequences.data<int32_t>(), positions.data<int32_t>(),
                           d.N, static_cast<int>(d.B), static_cast<int>(d.NH), static_cast<int>(d.T_max),
                           static_cast<int>(d.HS), native(stream));
  });
}

}  // namespace pthrun::kernels
