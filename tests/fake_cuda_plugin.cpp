// The fake CUDA backend (tests/fake_cuda_plugin.h): cuda_plugin_api.h's table over host memory.
#include "tests/fake_cuda_plugin.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "runtime/convert_element.h"
#include "runtime/cuda_plugin_api.h"

namespace {

FakeCuda state;
std::mutex mutex;  // guards state.log
thread_local std::string last_message;
thread_local int last_code = 0;

constexpr int kIllegalAddress = 700;  // cudaErrorIllegalAddress: sticky

int fail(int status, int code, std::string message) {
  last_code = code;
  last_message = std::move(message);
  return status;
}

int sticky(const char* call) {
  return fail(PTHRUN_CUDA_ERROR_CUDA, kIllegalAddress,
              std::string("CUDA error cudaErrorIllegalAddress (an illegal memory access was encountered) from ") +
                  call + " (fake)");
}

std::string name_of(const void* handle) {
  char text[32];
  std::snprintf(text, sizeof text, "%p", handle);
  return text;
}

void note(const std::string& line) {
  std::lock_guard lock(mutex);
  state.log.push_back(line);
}

// Stream handles are small tokens, reused after a destroy as CUDA reuses them.
void* next_stream_handle() { return reinterpret_cast<void*>(std::uintptr_t{0x10}); }

int not_here(const char* what) {
  return fail(PTHRUN_CUDA_ERROR_ARGUMENT, 0, std::string(what) + ": not in the fake CUDA backend");
}

void last_error(int* code, const char** message) {
  *code = last_code;
  *message = last_message.c_str();
}

int versions(PthrunCudaVersions* out) {
  *out = {};
  out->runtime = 13000;
  out->driver = 13000;
  std::strcpy(out->architectures, "fake");
  return PTHRUN_CUDA_OK;
}
int device_count(int* count) {
  *count = 1;
  return PTHRUN_CUDA_OK;
}
int device_properties(int, PthrunCudaDeviceProperties* out) {
  *out = {};
  std::strcpy(out->name, "fake GPU");
  out->total_memory = std::size_t{1} << 32;
  out->multiprocessors = 1;
  out->compute_major = 9;
  return PTHRUN_CUDA_OK;
}
int set_device(int) { return PTHRUN_CUDA_OK; }
int device_synchronize(int) {
  note("device_synchronize");
  return PTHRUN_CUDA_OK;
}
int memory_info(int, std::size_t* free, std::size_t* total) {
  *free = *total = std::size_t{1} << 32;
  return PTHRUN_CUDA_OK;
}

int stream_create(int, int, void** stream) {
  *stream = next_stream_handle();
  ++state.streams_created;
  return PTHRUN_CUDA_OK;
}
int stream_destroy(void*) { return PTHRUN_CUDA_OK; }
int stream_synchronize(void* stream) {
  note("stream_synchronize " + name_of(stream));
  return PTHRUN_CUDA_OK;
}
int stream_wait_event(void*, void*) { return PTHRUN_CUDA_OK; }
int event_create(int, int, void** event) {
  if (state.fail_frees) return sticky("cudaEventCreateWithFlags");
  *event = new int(0);
  return PTHRUN_CUDA_OK;
}
int event_destroy(void* event) {
  delete static_cast<int*>(event);
  return PTHRUN_CUDA_OK;
}
int event_record(void*, void*) { return state.fail_frees ? sticky("cudaEventRecord") : PTHRUN_CUDA_OK; }
int event_synchronize(void*) { return state.fail_frees ? sticky("cudaEventSynchronize") : PTHRUN_CUDA_OK; }
int event_query(void*, int* done) {
  *done = 1;
  return state.fail_frees ? sticky("cudaEventQuery") : PTHRUN_CUDA_OK;
}
int event_elapsed_ms(void*, void*, float* ms) {
  *ms = 0;
  return PTHRUN_CUDA_OK;
}

int device_malloc(int, std::size_t bytes, void** ptr) {
  *ptr = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  return PTHRUN_CUDA_OK;
}
int device_free(int, void* ptr) {
  if (state.fail_frees) {  // the memory is lost, as after a sticky error
    state.lost.push_back(ptr);
    return sticky("cudaFree");
  }
  std::free(ptr);
  return PTHRUN_CUDA_OK;
}
int host_alloc(std::size_t bytes, void** ptr) { return device_malloc(0, bytes, ptr); }
int host_free(void* ptr) {
  std::free(ptr);
  return PTHRUN_CUDA_OK;
}
int memcpy_async(void* dst, const void* src, std::size_t bytes, void* stream) {
  note("memcpy " + name_of(stream));
  std::memcpy(dst, src, bytes);
  return PTHRUN_CUDA_OK;
}
int memset_async(void* dst, int value, std::size_t bytes, void*) {
  std::memset(dst, value, bytes);
  return PTHRUN_CUDA_OK;
}

int pool_open(int, void**) { return not_here("pool_open"); }
int pool_malloc(int, std::size_t, void*, void**) { return not_here("pool_malloc"); }
int pool_free(void*, void*) { return not_here("pool_free"); }
int pool_trim(int, void*) { return not_here("pool_trim"); }
int pool_usage(void*, uint64_t*, uint64_t*) { return not_here("pool_usage"); }
int pool_reset_peak(void*) { return not_here("pool_reset_peak"); }
int graph_begin_capture(void*) { return not_here("graph_begin_capture"); }
int graph_end_capture(void*, void**) { return not_here("graph_end_capture"); }
int graph_is_capturing(void*, int* capturing) {
  *capturing = 0;
  return PTHRUN_CUDA_OK;
}
int graph_instantiate(void*, void**) { return not_here("graph_instantiate"); }
int graph_launch(void*, void*) { return not_here("graph_launch"); }
int graph_destroy(void*, void*) { return PTHRUN_CUDA_OK; }

// Element `index` of a row-major `shape`, at its offset under `strides`.
int64_t offset_of(int rank, const int64_t* shape, const int64_t* strides, int64_t index) {
  int64_t offset = 0;
  for (int d = rank - 1; d >= 0; --d) {
    offset += index % shape[d] * strides[d];
    index /= shape[d];
  }
  return offset;
}

// runtime/dtype.cpp's itemsize, which this library does not link.
int64_t size_of(pthrun::DType dtype) {
  switch (dtype) {
    case pthrun::DType::f64:
    case pthrun::DType::i64:
      return 8;
    case pthrun::DType::f32:
    case pthrun::DType::i32:
      return 4;
    case pthrun::DType::f16:
    case pthrun::DType::bf16:
    case pthrun::DType::i16:
      return 2;
    default:
      return 1;
  }
}

int copy(const PthrunCudaCopyArgs* a) {
  note("copy " + name_of(a->stream));
  const auto dst = static_cast<pthrun::DType>(a->dst.dtype), src = static_cast<pthrun::DType>(a->src.dtype);
  for (int64_t k = 0; k < a->count; ++k) {
    const int64_t d = offset_of(a->rank, a->shape, a->dst.strides, a->first + k);
    const int64_t s = a->src_packed ? k : offset_of(a->rank, a->shape, a->src.strides, a->first + k);
    pthrun::store_element(static_cast<char*>(a->dst.data) + d * size_of(dst), dst,
                          pthrun::load_element(static_cast<const char*>(a->src.data) + s * size_of(src), src));
  }
  return PTHRUN_CUDA_OK;
}

int fill(const PthrunCudaFillArgs* a) {
  note("fill " + name_of(a->stream));
  const auto dtype = static_cast<pthrun::DType>(a->dst.dtype);
  int64_t n = 1;
  for (int d = 0; d < a->rank; ++d) n *= a->shape[d];
  for (int64_t i = 0; i < n; ++i)
    pthrun::store_element(static_cast<char*>(a->dst.data) + offset_of(a->rank, a->shape, a->dst.strides, i) * size_of(dtype),
                          dtype, pthrun::Scalar{false, 0, a->value});
  return PTHRUN_CUDA_OK;
}

int busy_wait(int, void*, uint32_t) { return PTHRUN_CUDA_OK; }

int load_blas(int* version, const char** path) {
  *version = 130000;
  *path = "fake cuBLASLt";
  return PTHRUN_CUDA_OK;
}

int embedding(const PthrunCudaEmbeddingArgs*) { return not_here("embedding"); }
int layernorm(const PthrunCudaLayernormArgs*) { return not_here("layernorm"); }
int linear(const PthrunCudaLinearArgs* a, int* path) {
  state.last_workspace = a->workspace;
  state.last_workspace_bytes = a->workspace_bytes;
  *path = state.linear_path;
  if (state.fail_linear)
    return fail(PTHRUN_CUDA_ERROR_CUBLAS, 14, "cuBLAS error CUBLAS_STATUS_INTERNAL_ERROR from cublasLtMatmul (fake)");
  return PTHRUN_CUDA_OK;
}
int linear_path(const PthrunCudaLinearArgs*, int* path) {
  *path = state.linear_path;
  return PTHRUN_CUDA_OK;
}
int kv_cache_append(const PthrunCudaKvAppendArgs*) { return not_here("kv_cache_append"); }
int attention_prefill(const PthrunCudaPrefillArgs*) { return not_here("attention_prefill"); }
int attention_decode(const PthrunCudaDecodeArgs*) { return not_here("attention_decode"); }
int sample(const PthrunCudaSampleArgs*) { return not_here("sample"); }

PthrunCudaPluginV1 table = {
    .abi = PTHRUN_CUDA_PLUGIN_ABI,
    .size = sizeof(PthrunCudaPluginV1),
    .description = "fake CUDA backend (tests/fake_cuda_plugin.cpp)",
    .last_error = last_error,
    .versions = versions,
    .device_count = device_count,
    .device_properties = device_properties,
    .set_device = set_device,
    .device_synchronize = device_synchronize,
    .memory_info = memory_info,
    .stream_create = stream_create,
    .stream_destroy = stream_destroy,
    .stream_synchronize = stream_synchronize,
    .stream_wait_event = stream_wait_event,
    .event_create = event_create,
    .event_destroy = event_destroy,
    .event_record = event_record,
    .event_synchronize = event_synchronize,
    .event_query = event_query,
    .event_elapsed_ms = event_elapsed_ms,
    .device_malloc = device_malloc,
    .device_free = device_free,
    .host_alloc = host_alloc,
    .host_free = host_free,
    .memcpy_async = memcpy_async,
    .memset_async = memset_async,
    .pool_open = pool_open,
    .pool_malloc = pool_malloc,
    .pool_free = pool_free,
    .pool_trim = pool_trim,
    .pool_usage = pool_usage,
    .pool_reset_peak = pool_reset_peak,
    .graph_begin_capture = graph_begin_capture,
    .graph_end_capture = graph_end_capture,
    .graph_is_capturing = graph_is_capturing,
    .graph_instantiate = graph_instantiate,
    .graph_launch = graph_launch,
    .graph_destroy = graph_destroy,
    .copy = copy,
    .fill = fill,
    .busy_wait = busy_wait,
    .load_blas = load_blas,
    .embedding = embedding,
    .layernorm = layernorm,
    .linear = linear,
    .linear_path = linear_path,
    .kv_cache_append = kv_cache_append,
    .attention_prefill = attention_prefill,
    .attention_decode = attention_decode,
    .sample = sample,
    .linear_gelu_erf = 1,
};

}  // namespace

extern "C" FakeCuda* fake_cuda() { return &state; }

// FAKE_CUDA_ABI makes it claim another interface version, for the loader's refusal.
extern "C" const PthrunCudaPluginV1* pthrun_cuda_plugin_v1() {
  if (const char* abi = std::getenv("FAKE_CUDA_ABI")) table.abi = static_cast<uint32_t>(std::atoi(abi));
  return &table;
}
