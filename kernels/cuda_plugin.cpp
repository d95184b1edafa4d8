// The CUDA backend's one exported symbol, pthrun_cuda_plugin_v1: the table of cuda_plugin_api.h
// filled with the runtime's operations (runtime/cuda_runtime_ops.h, runtime/copy_kernels.h) and
// the kernels' launchers (kernels/cuda_launchers.h).
//
// The implementations throw pthrun's exceptions, as the rest of pthrun does; each entry of the
// table wraps one (Entry<F>::call) so that no exception crosses into the core: it becomes a
// status, and its message waits in a thread-local slot for last_error(). Everything else in
// this library is hidden (-fvisibility=hidden, static cudart, --exclude-libs): it can neither
// bind to nor be bound by the symbols of the program that loads it.
#include <cstring>
#include <new>
#include <string>

#include "kernels/cublaslt.h"
#include "kernels/cuda_launchers.h"
#include "runtime/copy_kernels.h"
#include "runtime/cuda_plugin_api.h"
#include "runtime/cuda_runtime_ops.h"
#include "runtime/error.h"

namespace pthrun::plugin {

namespace {

struct LastError {
  int code = 0;
  std::string message;
};
thread_local LastError last;

int fail(int status, int code, const char* message) noexcept {
  last.code = code;
  try {
    last.message = message;
  } catch (...) {
    last.message.clear();  // out of memory: last_error() reports that instead
  }
  return status;
}

template <typename F>
int guarded(F&& body) noexcept {
  try {
    body();
    return PTHRUN_CUDA_OK;
  } catch (const CudaError& e) {
    return fail(PTHRUN_CUDA_ERROR_CUDA, e.code(), e.what());
  } catch (const CublasError& e) {
    return fail(PTHRUN_CUDA_ERROR_CUBLAS, e.status(), e.what());
  } catch (const Error& e) {
    return fail(PTHRUN_CUDA_ERROR_ARGUMENT, 0, e.what());
  } catch (const std::bad_alloc&) {
    return fail(PTHRUN_CUDA_ERROR_INTERNAL, 0, "out of host memory in the CUDA backend");
  } catch (const std::exception& e) {
    return fail(PTHRUN_CUDA_ERROR_INTERNAL, 0, e.what());
  } catch (...) {
    return fail(PTHRUN_CUDA_ERROR_INTERNAL, 0, "unknown exception in the CUDA backend");
  }
}

// Entry<&f>::call: f's arguments, an int status instead of f's result.
template <auto F>
struct Entry;
template <typename R, typename... Args, R (*F)(Args...)>
struct Entry<F> {
  static int call(Args... args) noexcept {
    return guarded([&] { F(args...); });
  }
};

void last_error(int* code, const char** message) {
  *code = last.code;
  *message = last.message.empty() ? "out of host memory in the CUDA backend" : last.message.c_str();
}

// The kernels' entries take their args by pointer (the C ABI), the launchers by reference.
template <typename Args, void (*Launch)(const Args&)>
void by_pointer(const Args* args) {
  Launch(*args);
}

void linear(const PthrunCudaLinearArgs* args, int* path) { *path = kernels::launch_linear(*args); }
void linear_path(const PthrunCudaLinearArgs* args, int* path) { *path = kernels::linear_path(*args); }

void load_blas(int* version, const char** path) {
  const kernels::BlasLibrary& library = kernels::load_blas();
  *version = library.version;
  *path = library.path.c_str();
}

const PthrunCudaPluginV1 table = {
    .abi = PTHRUN_CUDA_PLUGIN_ABI,
    .size = sizeof(PthrunCudaPluginV1),
    .description = "pthrun CUDA backend " PTHRUN_VERSION " (CUDA " PTHRUN_CUDA_VERSION ", " PTHRUN_CUDA_ARCHITECTURES ")",
    .last_error = last_error,
    .versions = Entry<&versions>::call,
    .device_count = Entry<&device_count>::call,
    .device_properties = Entry<&device_properties>::call,
    .set_device = Entry<&set_device>::call,
    .device_synchronize = Entry<&device_synchronize>::call,
    .memory_info = Entry<&memory_info>::call,
    .stream_create = Entry<&stream_create>::call,
    .stream_destroy = Entry<&stream_destroy>::call,
    .stream_synchronize = Entry<&stream_synchronize>::call,
    .stream_wait_event = Entry<&stream_wait_event>::call,
    .event_create = Entry<&event_create>::call,
    .event_destroy = Entry<&event_destroy>::call,
    .event_record = Entry<&event_record>::call,
    .event_synchronize = Entry<&event_synchronize>::call,
    .event_query = Entry<&event_query>::call,
    .event_elapsed_ms = Entry<&event_elapsed_ms>::call,
    .device_malloc = Entry<&device_malloc>::call,
    .device_free = Entry<&device_free>::call,
    .host_alloc = Entry<&host_alloc>::call,
    .host_free = Entry<&host_free>::call,
    .memcpy_async = Entry<&memcpy_async>::call,
    .memset_async = Entry<&memset_async>::call,
    .pool_open = Entry<&pool_open>::call,
    .pool_malloc = Entry<&pool_malloc>::call,
    .pool_free = Entry<&pool_free>::call,
    .pool_trim = Entry<&pool_trim>::call,
    .pool_usage = Entry<&pool_usage>::call,
    .pool_reset_peak = Entry<&pool_reset_peak>::call,
    .graph_begin_capture = Entry<&graph_begin_capture>::call,
    .graph_end_capture = Entry<&graph_end_capture>::call,
    .graph_is_capturing = Entry<&graph_is_capturing>::call,
    .graph_instantiate = Entry<&graph_instantiate>::call,
    .graph_launch = Entry<&graph_launch>::call,
    .graph_destroy = Entry<&graph_destroy>::call,
    .copy = Entry<&by_pointer<PthrunCudaCopyArgs, launch_copy>>::call,
    .fill = Entry<&by_pointer<PthrunCudaFillArgs, launch_fill>>::call,
    .busy_wait = Entry<&launch_busy_wait>::call,
    .load_blas = Entry<&load_blas>::call,
    .embedding = Entry<&by_pointer<PthrunCudaEmbeddingArgs, kernels::launch_embedding>>::call,
    .layernorm = Entry<&by_pointer<PthrunCudaLayernormArgs, kernels::launch_layernorm>>::call,
    .linear = Entry<&linear>::call,
    .linear_path = Entry<&linear_path>::call,
    .kv_cache_append = Entry<&by_pointer<PthrunCudaKvAppendArgs, kernels::launch_kv_cache_append>>::call,
    .attention_prefill = Entry<&by_pointer<PthrunCudaPrefillArgs, kernels::launch_attention_prefill>>::call,
    .attention_decode = Entry<&by_pointer<PthrunCudaDecodeArgs, kernels::launch_attention_decode>>::call,
    .sample = Entry<&by_pointer<PthrunCudaSampleArgs, kernels::launch_sample>>::call,
    .linear_gelu_erf = 1,
};

}  // namespace

}  // namespace pthrun::plugin

extern "C" __attribute__((visibility("default"))) const PthrunCudaPluginV1* pthrun_cuda_plugin_v1(void) {
  return &pthrun::plugin::table;
}
