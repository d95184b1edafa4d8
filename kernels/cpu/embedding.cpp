// CPU reference of the token + position embedding (see kernels/embedding.h).
#include "kernels/cpu/cpu_util.h"
#include "kernels/element.h"
#include "kernels/embedding.h"
#include "kernels/kernel_check.h"

namespace pthrun::kernels::cpu {

void embedding(const Tensor& out, const Tensor& tokens, const Tensor& positions, const Tensor& wte,
               const Tensor& wpe, const Stream& stream) {
  (void)stream;  // work on the CPU is synchronous
  const char* op = "embedding";
  const Device device = out.device();
  check_float(op, "out", out, device);
  PTHRUN_CHECK(out.dim() == 2, op, ": out has shape ", out.shape().to_string(), ", expected (N, C)");
  const int64_t N = out.size(0), C = out.size(1);
  check_tensor(op, "tokens", tokens, device, DType::i32);
  check_tensor(op, "positions", positions, device, DType::i32);
  check_shape(op, "tokens", tokens, {N});
  check_shape(op, "positions", positions, {N});
  check_tensor(op, "wte", wte, device, out.dtype());
  check_tensor(op, "wpe", wpe, device, out.dtype());
  PTHRUN_CHECK(wte.dim() == 2 && wte.size(1) == C, op, ": wte has shape ", wte.shape().to_string(),
               ", expected (V, ", C, ")");
  PTHRUN_CHECK(wpe.dim() == 2 && wpe.size(1) == C, op, ": wpe has shape ", wpe.shape().to_string(),
               ", expected (T_max, ", C, ")");
  const int64_t V = wte.size(0), T_max = wpe.size(0);
  const int32_t* tok = tokens.data<int32_t>();
  const int32_t* pos = positions.data<int32_t>();
  // The model range-checks ids before they reach a kernel; checking again here costs nothing
  // next to the copy and turns a caller's bug into an error instead of a wild read.
  for (int64_t n = 0; n < N; ++n) {
    PTHRUN_CHECK(tok[n] >= 0 && tok[n] < V, op, ": token ", tok[n], " at row ", n, " is outside the vocabulary of ", V);
    PTHRUN_CHECK(pos[n] >= 0 && pos[n] < T_max, op, ": position ", pos[n], " at row ", n,
                 " is outside the context of ", T_max);
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
