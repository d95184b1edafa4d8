// Temporary: the CUDA kernels land in the next commits; until then a CUDA call says so.
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/sampling.h"

namespace pthrun::kernels::cuda {

namespace {
[[noreturn]] void pending(const char* op) { throw Error(str(op, ": the CUDA kernel is not in this build yet")); }
}  // namespace

void embedding(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Stream&) { pending("embedding"); }
void layernorm(const Tensor&, const Tensor&, const Tensor&, const Tensor&, float, const Stream&) { pending("layernorm"); }
void residual_layernorm(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, float, const Stream&) { pending("residual_layernorm"); }
void add(const Tensor&, const Tensor&, const Tensor&, const Stream&) { pending("add"); }
void bias_gelu(const Tensor&, const Tensor&, const Tensor&, const Stream&) { pending("bias_gelu"); }
void linear(const Tensor&, const Tensor&, const Tensor&, WeightLayout, const Tensor&, Epilogue, const Stream&) { pending("linear"); }
void kv_cache_append(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, int, const Stream&) { pending("kv_cache_append"); }
void attention_prefill(const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t, int, const Stream&) { pending("attention_prefill"); }
void attention_decode(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, int, const Tensor&, const Stream&) { pending("attention_decode"); }
void sample(const Tensor&, const Tensor&, const SamplingParams&, uint64_t, uint64_t, const Tensor&, const Stream&) { pending("sample"); }

}  // namespace pthrun::kernels::cuda
