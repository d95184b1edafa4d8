// CUDA token + position embedding (see kernels/embedding.h): one block per row, threads over
// the channels. Ids live on the device, so they cannot be checked here; the model checks
// them before they reach the kernel. An id out of range anyway gives a row of NaNs rather
// than a read outside the tables.
#include <cmath>

#include "kernels/cuda_common.cuh"
#include "kernels/embedding.h"
#include "kernels/kernel_check.h"
#include "kernels/op_checks.h"

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

void cuda::embedding(const Tensor& out, const Tensor& tokens, const Tensor& positions, const Tensor& wte,
                     const Tensor& wpe, const Stream& stream) {
  const EmbeddingDims d = check_embedding(out, tokens, positions, wte, wpe);
  check_int32_range("embedding", "the number of rows", d.N);
  check_int32_range("embedding", "the vocabulary size", d.V);
  check_int32_range("embedding", "the context size", d.T_max);
  check_int32_range("embedding", "the row length", d.C);
  use_device(out.device());
  dispatch_float(out.dtype(), "embedding", [&](auto tag) {
    using T = decltype(tag);
    launch_embedding(static_cast<T*>(out.data_ptr()), tokens.data<int32_t>(), positions.data<int32_t>(),
                     static_cast<const T*>(wte.data_ptr()), static_cast<const T*>(wpe.data_ptr()), d.N,
                     static_cast<int>(d.C), static_cast<int>(d.V), static_cast<int>(d.T_max), native(stream));
  });
}

}  // namespace pthrun::kernels
