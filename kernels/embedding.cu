// CUDA token + position embedding (see kernels/embedding.h): one block per row, threads over
// the channels. Ids live on the device, so they cannot be checked here; the model checks
// them before they reach the kernel. An id out of range anyway gives a row of NaNs rather
// than a read outside the tables.
#include <cmath>

#include "kernels/cuda_common.cuh"
#include "kernels/cuda_launchers.h"

namespace pthrun::kernels {

namespace {

using namespace cuda_detail;

constexpr int kThreads = 256;

template <typename T>
__global__ void embedding_kernel(T* out, const int32_t* tokens, const int32_t* positions, const T* wte, const T* wpe,
                                 int C, int V, int T_max) {
  const int64_t n = blockIdx.x;
  const int32_t token = tokens[n], position = positions[n];
  T* orow = out + n * C;
  if (token < 0 || token >= V || position < 0 || position >= T_max) {
    for (int c = threadIdx.x; c < C; c += blockDim.x) store(orow + c, NAN);
    return;
  }
  const T* trow = wte + int64_t{token} * C;
  const T* prow = wpe + int64_t{position} * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) store(orow + c, load(trow + c) + load(prow + c));
}

template <typename T>
void launch_embedding(T* out, const int32_t* tokens, const int32_t* positions, const T* wte, const T* wpe, int64_t N,
                      int C, int V, int T_max, cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  embedding_kernel<<<static_cast<unsigned>(N), kThreads, 0, stream>>>(out, tokens, positions, wte, wpe, C, V, T_max);
  PTHRUN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_embedding(const PthrunCudaEmbeddingArgs& a) {
  use_device(a.device);
  dispatch_float(a.dtype, "embedding", [&](auto tag) {
    using T = decltype(tag);
    launch_embedding(static_cast<T*>(a.out), a.tokens, a.positions, static_cast<const T*>(a.wte),
                     static_cast<const T*>(a.wpe), a.N, a.C, a.V, a.T_max, native(a.stream));
  });
}

}  // namespace pthrun::kernels
