#include "kernels/cublaslt.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <utility>

#include "kernels/cublas_check.h"

namespace pthrun::kernels {

namespace {

// cuBLASLt's functions, resolved with dlsym. The soname carries the CUDA major version the
// plugin was built with (cuBLAS 13 for CUDA 13), PTHRUN_CUBLASLT_SONAME.
struct Blas {
  BlasLibrary library;
  decltype(&cublasLtCreate) Create;
  decltype(&cublasLtDestroy) Destroy;
  decltype(&cublasLtGetVersion) GetVersion;
  decltype(&cublasLtGetStatusName) GetStatusName;
  decltype(&cublasLtGetStatusString) GetStatusString;
  decltype(&cublasLtMatmulDescCreate) MatmulDescCreate;
  decltype(&cublasLtMatmulDescDestroy) MatmulDescDestroy;
  decltype(&cublasLtMatmulDescSetAttribute) MatmulDescSetAttribute;
  decltype(&cublasLtMatrixLayoutCreate) MatrixLayoutCreate;
  decltype(&cublasLtMatrixLayoutDestroy) MatrixLayoutDestroy;
  decltype(&cublasLtMatmulPreferenceCreate) MatmulPreferenceCreate;
  decltype(&cublasLtMatmulPreferenceDestroy) MatmulPreferenceDestroy;
  decltype(&cublasLtMatmulPreferenceSetAttribute) MatmulPreferenceSetAttribute;
  decltype(&cublasLtMatmulAlgoGetHeuristic) MatmulAlgoGetHeuristic;
  decltype(&cublasLtMatmul) Matmul;
};

[[noreturn]] void blas_unavailable(const std::string& why) {
  throw CublasError(CUBLAS_STATUS_NOT_INITIALIZED, str("cuBLASLt is not available: ", why));
}

template <typename F>
void resolve(void* handle, const char* name, F& out) {
  out = reinterpret_cast<F>(dlsym(handle, name));
  if (!out) blas_unavailable(str(PTHRUN_CUBLASLT_SONAME " has no ", name));
}

const Blas& blas() {
  // Never unloaded; a failure is remembered and reported again on every call.
  static const Blas* loaded = nullptr;
  static std::string failure;
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  if (loaded) return *loaded;
  if (!failure.empty()) blas_unavailable(failure);
  try {
    void* handle = dlopen(PTHRUN_CUBLASLT_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* why = dlerror();
      blas_unavailable(why ? why : PTHRUN_CUBLASLT_SONAME ": cannot be opened");
    }
    auto b = std::make_unique<Blas>();
    resolve(handle, "cublasLtCreate", b->Create);
    resolve(handle, "cublasLtDestroy", b->Destroy);
    resolve(handle, "cublasLtGetVersion", b->GetVersion);
    resolve(handle, "cublasLtGetStatusName", b->GetStatusName);
    resolve(handle, "cublasLtGetStatusString", b->GetStatusString);
    resolve(handle, "cublasLtMatmulDescCreate", b->MatmulDescCreate);
    resolve(handle, "cublasLtMatmulDescDestroy", b->MatmulDescDestroy);
    resolve(handle, "cublasLtMatmulDescSetAttribute", b->MatmulDescSetAttribute);
    resolve(handle, "cublasLtMatrixLayoutCreate", b->MatrixLayoutCreate);
    resolve(handle, "cublasLtMatrixLayoutDestroy", b->MatrixLayoutDestroy);
    resolve(handle, "cublasLtMatmulPreferenceCreate", b->MatmulPreferenceCreate);
    resolve(handle, "cublasLtMatmulPreferenceDestroy", b->MatmulPreferenceDestroy);
    resolve(handle, "cublasLtMatmulPreferenceSetAttribute", b->MatmulPreferenceSetAttribute);
    resolve(handle, "cublasLtMatmulAlgoGetHeuristic", b->MatmulAlgoGetHeuristic);
    resolve(handle, "cublasLtMatmul", b->Matmul);
    b->library.version = static_cast<int>(b->GetVersion());
    Dl_info info{};
    b->library.path = dladdr(reinterpret_cast<void*>(b->Create), &info) && info.dli_fname ? info.dli_fname
                                                                                           : PTHRUN_CUBLASLT_SONAME;
    loaded = b.release();
    return *loaded;
  } catch (const CublasError& e) {
    failure = e.what();
    throw;
  }
}

// RAII for the cuBLASLt handle and descriptor types: each destroys its handle.
template <typename Handle, cublasStatus_t (*Blas::*Destroy)(Handle)>
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
    if (handle_) PTHRUN_CUDA_WARN((blas().*Destroy)(handle_));
    handle_ = nullptr;
  }

  Handle handle_ = nullptr;
};

using LtHandle = LtObject<cublasLtHandle_t, &Blas::Destroy>;
using MatmulDesc = LtObject<cublasLtMatmulDesc_t, &Blas::MatmulDescDestroy>;
using MatrixLayout = LtObject<cublasLtMatrixLayout_t, &Blas::MatrixLayoutDestroy>;
using Preference = LtObject<cublasLtMatmulPreference_t, &Blas::MatmulPreferenceDestroy>;

MatrixLayout make_layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld) {
  cublasLtMatrixLayout_t layout = nullptr;
  PTHRUN_CUDA_CHECK(
      blas().MatrixLayoutCreate(&layout, type, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), ld));
  return MatrixLayout(layout);
}

template <typename T>
void set_attribute(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attribute, const T& value) {
  PTHRUN_CUDA_CHECK(blas().MatmulDescSetAttribute(desc, attribute, &value, sizeof value));
}

template <typename T>
void set_preference(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attribute, const T& value) {
  PTHRUN_CUDA_CHECK(blas().MatmulPreferenceSetAttribute(pref, attribute, &value, sizeof value));
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
using PlanKey = std::tuple<int64_t, int64_t, int64_t, bool, int, int, bool, int, uint32_t, uint32_t, uint32_t,
                           uint32_t, std::size_t>;

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
          p.bias ? alignment_of(p.bias) : 0u,
          p.workspace_bytes};
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
  std::mutex mutex;  // guards plans
  std::map<PlanKey, std::unique_ptr<Plan>> plans;
};

DeviceContext& context_of(int device) {
  // Never destroyed: the CUDA driver may be gone when static destructors run.
  static auto* mutex = new std::mutex;
  static auto* contexts = new std::map<int, std::unique_ptr<DeviceContext>>;
  std::lock_guard lock(*mutex);
  std::unique_ptr<DeviceContext>& context = (*contexts)[device];
  if (!context) {
    PTHRUN_CUDA_CHECK(cudaSetDevice(device));
    cublasLtHandle_t handle = nullptr;
    PTHRUN_CUDA_CHECK(blas().Create(&handle));
    context = std::make_unique<DeviceContext>();
    context->handle = LtHandle(handle);
  }
  return *context;
}

std::unique_ptr<Plan> make_plan(cublasLtHandle_t handle, const LtProduct& p) {
  auto plan = std::make_unique<Plan>();
  const cublasComputeType_t compute = p.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  cublasLtMatmulDesc_t desc = nullptr;
  PTHRUN_CUDA_CHECK(blas().MatmulDescCreate(&desc, compute, CUDA_R_32F));
  plan->desc = MatmulDesc(desc);
  set_attribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, p.transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N);
  set_attribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
  set_attribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, p.epilogue);
  if (p.bias) set_attribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, p.bias);
  plan->a = p.transpose_a ? make_layout(p.ab_type, p.k, p.m, p.k) : make_layout(p.ab_type, p.m, p.k, p.m);
  plan->b = make_layout(p.ab_type, p.k, p.n, p.k);
  plan->d = make_layout(p.d_type, p.m, p.n, p.m);

  cublasLtMatmulPreference_t raw_pref = nullptr;
  PTHRUN_CUDA_CHECK(blas().MatmulPreferenceCreate(&raw_pref));
  Preference pref(raw_pref);
  set_preference(raw_pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, uint64_t{p.workspace_bytes});
  set_preference(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignment_of(p.a));
  set_preference(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignment_of(p.b));
  set_preference(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignment_of(p.d));
  set_preference(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignment_of(p.d));

  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t status = blas().MatmulAlgoGetHeuristic(handle, desc, plan->a.get(), plan->b.get(),
                                                              plan->d.get(), plan->d.get(), raw_pref, 1, &result, &found);
  // NOT_SUPPORTED is cuBLASLt's "no algorithm for this problem"; INVALID_VALUE is what it says
  // for some degenerate shapes with an epilogue (a single row or column: PyTorch avoids those).
  // Either way the caller falls back (and counts it: see kernels/cuda_gemm.h).
  if (status != CUBLAS_STATUS_NOT_SUPPORTED && status != CUBLAS_STATUS_INVALID_VALUE) PTHRUN_CUDA_CHECK(status);
  plan->has_algo = status == CUBLAS_STATUS_SUCCESS && found > 0;
  if (plan->has_algo) plan->algo = result.algo;
  return plan;
}

Plan& plan_of(DeviceContext& context, const LtProduct& p) {
  std::lock_guard lock(context.mutex);
  std::unique_ptr<Plan>& slot = context.plans[key_of(p)];
  if (!slot) slot = make_plan(context.handle.get(), p);
  return *slot;
}

}  // namespace

const BlasLibrary& load_blas() { return blas().library; }

bool lt_product_supported(int device, const LtProduct& p) { return plan_of(context_of(device), p).has_algo; }

bool run_lt_product(int device, cudaStream_t stream, const LtProduct& p) {
  DeviceContext& context = context_of(device);
  Plan& plan = plan_of(context, p);
  if (!plan.has_algo) return false;
  const float alpha = 1.0f, beta = 0.0f;
  std::lock_guard lock(plan.mutex);
  if (p.bias) set_attribute(plan.desc.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER, p.bias);
  PTHRUN_CUDA_CHECK(blas().Matmul(context.handle.get(), plan.desc.get(), &alpha, p.a, plan.a.get(), p.b, plan.b.get(),
                                  &beta, p.d, plan.d.get(), p.d, plan.d.get(), &plan.algo, p.workspace,
                                  p.workspace_bytes, stream));
  return true;
}

}  // namespace pthrun::kernels

namespace pthrun {

namespace {

std::string describe(cublasStatus_t status, const char* expr, const char* func, const char* file, int line) {
  // A status exists only after cuBLASLt was loaded, so its names are at hand.
  const auto& b = kernels::blas();
  return str("cuBLAS error ", b.GetStatusName(status), " (", b.GetStatusString(status), ") from ", expr, " in ", func,
             " at ", file, ":", line);
}

}  // namespace

void throw_status(cublasStatus_t status, const char* expr, const char* func, const char* file, int line) {
  throw CublasError(static_cast<int>(status), describe(status, expr, func, file, line));
}

void warn_status(cublasStatus_t status, const char* expr, const char* func, const char* file, int line) {
  std::fprintf(stderr, "warning: %s\n", describe(status, expr, func, file, line).c_str());
}

}  // namespace pthrun
