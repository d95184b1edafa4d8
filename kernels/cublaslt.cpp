#include "kernels/cublaslt.h"

#include <cuda_runtime_api.h>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <utility>

#include "kernels/cublas_check.h"
#include "runtime/alloc_trace.h"
#include "runtime/allocator.h"
#include "runtime/cuda_check.h"

namespace pthrun::kernels {

namespace {

constexpr std::size_t kWorkspaceBytes = 32u << 20;  // what NVIDIA suggests for Hopper

// RAII for the cuBLASLt handle and descriptor types: each destroys its handle.
template <typename Handle, cublasStatus_t (*Destroy)(Handle)>
class LtObject {
 public:
  LtObject() = default;
  explicit LtObject(Handle handle) : handle_(handle) {}
  LtObject(LtObject&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  LtObject& operator=(LtObject&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  ~LtObject() { reset(); }
  Handle get() const { return handle_; }

 private:
  void reset() {
    if (handle_) PTHRUN_CUBLAS_WARN(Destroy(handle_));
    handle_ = nullptr;
  }

  Handle handle_ = nullptr;
};

using LtHandle = LtObject<cublasLtHandle_t, cublasLtDestroy>;
using MatmulDesc = LtObject<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>;
using MatrixLayout = LtObject<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>;
using Preference = LtObject<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>;

MatrixLayout make_layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld) {
  cublasLtMatrixLayout_t layout = nullptr;
  PTHRUN_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&layout, type, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), ld));
  return MatrixLayout(layout);
}

template <typename T>
void set_attribute(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attribute, const T& value) {
  PTHRUN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, attribute, &value, sizeof value));
}

template <typename T>
void set_preference(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attribute, const T& value) {
  PTHRUN_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attribute, &value, sizeof value));
}

// The largest power of two (up to 256) dividing the address: cuBLASLt's heuristic assumes
// 256-byte aligned operands unless told otherwise.
uint32_t alignment_of(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  uint32_t align = 256;
  while (align > 1 && address % align) align /= 2;
  return align;
}

// Everything the choice of algorithm depends on.
using PlanKey =
    std::tuple<int64_t, int64_t, int64_t, bool, int, int, bool, int, uint32_t, uint32_t, uint32_t, uint32_t>;

PlanKey key_of(const LtProduct& p) {
  return {p.m,
          p.n,
          p.k,
          p.transpose_a,
          p.ab_type,
          p.d_type,
          p.tf32,
          p.epilogue,
          alignment_of(p.a),
          alignment_of(p.b),
          alignment_of(p.d),
          p.bias ? alignment_of(p.bias) : 0u};
}

// Descriptors and the chosen algorithm of one problem. `mutex` guards the bias pointer, which
// is set on the shared descriptor for each call.
struct Plan {
  MatmulDesc desc;
  MatrixLayout a, b, d;
  cublasLtMatmulAlgo_t algo{};
  bool has_algo = false;
  std::mutex mutex;
};

struct DeviceContext {
  LtHandle handle;
  std::mutex mutex;                            // guards the two maps
  std::map<uintptr_t, Allocation> workspaces;  // by stream
  std::map<PlanKey, std::unique_ptr<Plan>> plans;
};

DeviceContext& context_of(Device device) {
  // Never destroyed: the CUDA driver may be gone when static destructors run.
  static auto* mutex = new std::mutex;
  static auto* contexts = new std::map<int, std::unique_ptr<DeviceContext>>;
  std::lock_guard lock(*mutex);
  std::unique_ptr<DeviceContext>& context = (*contexts)[device.index];
  if (!context) {
    set_current_device(device);
    cublasLtHandle_t handle = nullptr;
    PTHRUN_CUBLAS_CHECK(cublasLtCreate(&handle));
    context = std::make_unique<DeviceContext>();
    context->handle = LtHandle(handle);
  }
  return *context;
}

std::unique_ptr<Plan> make_plan(cublasLtHandle_t handle, const LtProduct& p) {
  auto plan = std::make_unique<Plan>();
  const cublasComputeType_t compute = p.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  cublasLtMatmulDesc_t desc = nullptr;
  PTHRUN_CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc, compute, CUDA_R_32F));
  plan->desc = MatmulDesc(desc);
  set_attribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, p.transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N);
  set_attribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
  set_attribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, p.epilogue);
  if (p.bias) set_attribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, p.bias);
  plan->a = p.transpose_a ? make_layout(p.ab_type, p.k, p.m, p.k) : make_layout(p.ab_type, p.m, p.k, p.m);
  plan->b = make_layout(p.ab_type, p.k, p.n, p.k);
  plan->d = make_layout(p.d_type, p.m, p.n, p.m);

  cublasLtMatmulPreference_t raw_pref = nullptr;
  PTHRUN_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&raw_pref));
  Preference pref(raw_pref);
  set_preference(raw_pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, uint64_t{kWorkspaceBytes});
  set_preference(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignment_of(p.a));
  set_preference(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignment_of(p.b));
  set_preference(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignment_of(p.d));
  set_preference(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignment_of(p.d));

  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
      handle, desc, plan->a.get(), plan->b.get(), plan->d.get(), plan->d.get(), raw_pref, 1, &result, &found);
  // NOT_SUPPORTED is cuBLASLt's "no algorithm for this problem"; INVALID_VALUE is what it says
  // for some degenerate shapes with an epilogue (a single row or column: PyTorch avoids those).
  // Either way the caller falls back.
  if (status != CUBLAS_STATUS_NOT_SUPPORTED && status != CUBLAS_STATUS_INVALID_VALUE) PTHRUN_CUBLAS_CHECK(status);
  plan->has_algo = status == CUBLAS_STATUS_SUCCESS && found > 0;
  if (plan->has_algo) plan->algo = result.algo;
  return plan;
}

}  // namespace

bool run_lt_product(Device device, cudaStream_t stream, const LtProduct& p) {
  DeviceContext& context = context_of(device);
  Plan* plan = nullptr;
  void* workspace = nullptr;
  {
    std::lock_guard lock(context.mutex);
    std::unique_ptr<Plan>& slot = context.plans[key_of(p)];
    if (!slot) slot = make_plan(context.handle.get(), p);
    plan = slot.get();
    if (!plan->has_algo) return false;
    const auto stream_id = reinterpret_cast<uintptr_t>(stream);
    auto it = context.workspaces.find(stream_id);
    if (it == context.workspaces.end()) {
      AllocScope scope("workspace");
      it = context.workspaces.emplace(stream_id, device_allocator(device).allocate(kWorkspaceBytes, stream_id)).first;
    }
    workspace = it->second.get();
  }
  const float alpha = 1.0f, beta = 0.0f;
  std::lock_guard lock(plan->mutex);
  if (p.bias) set_attribute(plan->desc.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER, p.bias);
  PTHRUN_CUBLAS_CHECK(cublasLtMatmul(context.handle.get(), plan->desc.get(), &alpha, p.a, plan->a.get(), p.b,
                                     plan->b.get(), &beta, p.d, plan->d.get(), p.d, plan->d.get(), &plan->algo,
                                     workspace, kWorkspaceBytes, stream));
  return true;
}

}  // namespace pthrun::kernels
