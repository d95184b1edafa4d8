// CPU reference of the token + position embedding (see kernels/embedding.h).
#include "kernels/embedding.h"

#include "kernels/cpu/cpu_util.h"
#include "kernels/element.h"
#include "kernels/op_checks.h"

namespace pthrun::kernels::cpu {

void embedding(const Tensor& out, const Tensor& tokens, const Tensor& positions, const Tensor& wte, const Tensor& wpe,
               const Stream& stream) {
  (void)stream;  // work on the CPU is synchronous
  const char* op = "embedding";
  const EmbeddingDims d = check_embedding(out, tokens, positions, wte, wpe);
  const int64_t N = d.N, C = d.C, V = d.V, T_max = d.T_max;
  const int32_t* tok = tokens.data<int32_t>();
  const int32_t* pos = positions.data<int32_t>();
  // The model range-checks ids before they reach a kernel; checking again here costs nothing
  // next to the copy and turns a caller's bug into an error instead of a wild read.
  for (int64_t n = 0; n < N; ++n) {
    PTHRUN_CHECK(tok[n] >= 0 && tok[n] < V, op, ": token ", tok[n], " at row ", n, " is outside the vocabulary of ", V);
    PTHRUN_CHECK(pos[n] >= 0 && pos[n] < T_max, op, ": position ", pos[n], " at row ", n, " is outside the context of ",
                 T_max);
  }
  dispatch_float(out.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    T* o = static_cast<T*>(out.data_ptr());
    const T* te = static_cast<const T*>(wte.data_ptr());
    const T* pe = static_cast<const T*>(wpe.data_ptr());
    parallel_rows(N, C, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        const T* trow = te + tok[n] * C;
        const T* prow = pe + pos[n] * C;
        T* orow = o + n * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) orow[c] = from_f32<T>(to_f32(trow[c]) + to_f32(prow[c]));
      }
    });
  });
}

}  // namespace pthrun::kernels::cpu
