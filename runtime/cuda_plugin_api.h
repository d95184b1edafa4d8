// The CUDA backend's binary interface: what pthrun's core calls in libpthrun_cuda.so.
//
// The core (runtime, kernels, loader, model: static libraries linked into `pthrun` and into
// applications) links no CUDA library. Everything CUDA lives in the plugin, which the core
// opens with dlopen the first time a CUDA device is asked for (runtime/cuda_plugin.h). The two
// meet only here, in C types: raw pointers, sizes, dtypes as numbers, opaque handles for
// streams, events, graphs and pools. The plugin keeps its own state (cuBLASLt handles and
// plans) and never calls back into the core, whose globals (allocators, registries) it could
// not reach anyway: the core's symbols are not exported by the executable that holds them.
//
//   const PthrunCudaPluginV1* api = pthrun_cuda_plugin_v1();   // the one exported symbol
//   void* stream = nullptr;
//   if (api->stream_create(0, 0, &stream) != PTHRUN_CUDA_OK) {
//     int code; const char* message;
//     api->last_error(&code, &message);                        // this thread's last failure
//   }
//
// Versioning: the entry symbol carries the major version (v1). A table grows only at its end;
// `size` tells how much of it the plugin fills, so a newer core can see what an older plugin
// lacks. Any other change (a field's type, a dtype's number) is a new major version and a new
// entry symbol.
//
// Errors: every function returns a PthrunCudaStatus; on failure last_error() gives the CUDA or
// cuBLAS status number and a one-line message naming the call, valid until this thread's next
// call into the plugin. No C++ exception crosses the boundary.
#pragma once

#include <stddef.h>
#include <stdint.h>

#define PTHRUN_CUDA_PLUGIN_ABI 1
#define PTHRUN_CUDA_PLUGIN_ENTRY "pthrun_cuda_plugin_v1"
// The largest rank a strided copy takes (runtime/shape.h's kMaxDims).
#define PTHRUN_CUDA_MAX_DIMS 8

extern "C" {

enum PthrunCudaStatus {
  PTHRUN_CUDA_OK = 0,
  PTHRUN_CUDA_ERROR_CUDA = 1,      // a CUDA runtime call failed; code: its cudaError_t
  PTHRUN_CUDA_ERROR_CUBLAS = 2,    // a cuBLASLt call failed, or cuBLASLt could not be loaded
  PTHRUN_CUDA_ERROR_ARGUMENT = 3,  // the plugin refused the arguments
  PTHRUN_CUDA_ERROR_INTERNAL = 4,  // anything else (out of host memory, a plugin bug)
};

// Element types: the numbers of pthrun::DType (runtime/dtype.h), which this ABI freezes.
enum PthrunCudaDType {
  PTHRUN_CUDA_F32 = 0,
  PTHRUN_CUDA_F16 = 1,
  PTHRUN_CUDA_BF16 = 2,
  PTHRUN_CUDA_F64 = 3,
  PTHRUN_CUDA_I64 = 4,
  PTHRUN_CUDA_I32 = 5,
  PTHRUN_CUDA_I16 = 6,
  PTHRUN_CUDA_I8 = 7,
  PTHRUN_CUDA_U8 = 8,
  PTHRUN_CUDA_BOOL = 9,
};

struct PthrunCudaDeviceProperties {
  char name[256];
  size_t total_memory;
  int multiprocessors;
  int compute_major, compute_minor;
};

// What the plugin was built with and what it finds on this machine.
struct PthrunCudaVersions {
  int runtime;           // CUDA runtime the plugin carries (13000 = 13.0)
  int driver;            // what the driver supports; 0 without a driver
  char architectures[64];  // the GPU code it holds, e.g. "sm_80 sm_90"
};

// A view for the strided copy and fill: logical elements [first, first + count) of `shape`
// in row-major order. A `packed` source holds exactly those elements, contiguously from `data`.
struct PthrunCudaView {
  void* data;
  int dtype;
  int64_t strides[PTHRUN_CUDA_MAX_DIMS];
};
struct PthrunCudaCopyArgs {
  int device;
  int rank;
  int64_t shape[PTHRUN_CUDA_MAX_DIMS];
  int64_t first, count;
  PthrunCudaView dst;
  PthrunCudaView src;
  int src_packed;
  void* stream;
};
struct PthrunCudaFillArgs {
  int device;
  int rank;
  int64_t shape[PTHRUN_CUDA_MAX_DIMS];
  PthrunCudaView dst;
  double value;
  void* stream;
};

// The kernels' launch arguments (kernels/*.h for what each computes). `dtype` is the floating
// type of every tensor but the int32 ids and positions (and linear's output and sampling's
// logits, typed apart). Pointers are to contiguous device memory; sizes are checked by the core.
struct PthrunCudaEmbeddingArgs {
  int device, dtype;
  void* out;
  const int32_t *tokens, *positions;
  const void *wte, *wpe;
  int64_t N;
  int C, V, T_max;
  void* stream;
};
struct PthrunCudaLayernormArgs {
  int device, dtype;
  void* residual;     // residual_layernorm: residual += delta first; null for plain layernorm
  void* out;
  const void* x;      // the input; for residual_layernorm, delta
  const void *weight, *bias;
  int64_t rows;
  int C;
  float eps;
  void* stream;
};
enum PthrunCudaLinearPath {
  PTHRUN_CUDA_LINEAR_FUSED = 0,     // cuBLASLt, with the bias/GELU epilogue when there is one
  PTHRUN_CUDA_LINEAR_EPILOGUE = 1,  // cuBLASLt, then a separate bias/GELU kernel
  PTHRUN_CUDA_LINEAR_NAIVE = 2,     // cuBLASLt offered no algorithm: one thread per output
};
// linear's activation (PthrunCudaLinearArgs::gelu).
enum PthrunCudaGelu {
  PTHRUN_CUDA_GELU_NONE = 0,
  PTHRUN_CUDA_GELU_TANH = 1,  // GPT-2's tanh approximation
  PTHRUN_CUDA_GELU_ERF = 2,   // the exact form, 0.5 x (1 + erf(x / sqrt 2)); see linear_gelu_erf
};
struct PthrunCudaLinearArgs {
  int device;
  int dtype, out_dtype;     // x, weight and bias share dtype; out has it or f32
  int out_in;               // weight stored (O, I), else (I, O)
  int gelu;                 // a PthrunCudaGelu
  int tf32;
  void* out;
  const void *x, *weight, *bias;  // bias may be null
  int64_t N, I, O;
  void* workspace;          // cuBLASLt's scratch, workspace_bytes long, owned by the caller
  size_t workspace_bytes;
  void* stream;
};
struct PthrunCudaKvAppendArgs {
  int device, dtype;
  void *k_cache, *v_cache;
  const void* qkv;
  const int32_t *sequences, *positions;
  int64_t N;
  int B, NH, T_max, HS;
  void* stream;
};
struct PthrunCudaPrefillArgs {
  int device, dtype;
  void* out;
  const void *qkv, *k_cache, *v_cache;
  int T, pos0, NH, HS, T_max;
  void* stream;
};
struct PthrunCudaDecodeArgs {
  int device, dtype;
  void* out;
  float* workspace;
  const void *qkv, *k_cache, *v_cache;
  const int32_t* positions;
  int B, NH, HS, T_max;
  int max_splits;  // what the workspace was sized for (kernels/decode_split.h)
  void* stream;
};
// How one row is drawn (kernels/sampling.h's RowSampling).
struct PthrunCudaSampleRow {
  float temperature;
  int32_t top_k;
  float top_p;
  uint64_t seed, step, stream;
};
struct PthrunCudaSampleArgs {
  int device;
  int32_t* tokens;
  const float* logits;
  uint32_t* keys;                        // B * V
  const PthrunCudaSampleRow* rows;       // B, in host memory: copied to device_rows first
  PthrunCudaSampleRow* device_rows;      // B, in device memory (the workspace)
  int64_t B;
  int V;
  void* stream;
};

struct PthrunCudaPluginV1 {
  uint32_t abi;   // PTHRUN_CUDA_PLUGIN_ABI
  uint32_t size;  // sizeof(PthrunCudaPluginV1) as the plugin was built
  const char* description;  // "pthrun CUDA backend 0.1.0 (CUDA 13.0, sm_80 sm_90)"

  void (*last_error)(int* code, const char** message);

  // Devices. device_count fails, with the reason, when there is no usable driver or GPU.
  int (*versions)(PthrunCudaVersions* out);
  int (*device_count)(int* count);
  int (*device_properties)(int device, PthrunCudaDeviceProperties* out);
  int (*set_device)(int device);
  int (*device_synchronize)(int device);
  int (*memory_info)(int device, size_t* free, size_t* total);

  // Streams and events (non-blocking streams; events without timing unless asked).
  int (*stream_create)(int device, int priority, void** stream);
  int (*stream_destroy)(void* stream);
  int (*stream_synchronize)(void* stream);
  int (*stream_wait_event)(void* stream, void* event);
  int (*event_create)(int device, int timing, void** event);
  int (*event_destroy)(void* event);
  int (*event_record)(void* event, void* stream);
  int (*event_synchronize)(void* event);
  int (*event_query)(void* event, int* done);
  int (*event_elapsed_ms)(void* start, void* end, float* ms);

  // Memory. device_malloc gives *ptr = null, not an error, when the device is out of memory.
  int (*device_malloc)(int device, size_t bytes, void** ptr);
  int (*device_free)(int device, void* ptr);
  int (*host_alloc)(size_t bytes, void** ptr);  // page-locked, usable from every device
  int (*host_free)(void* ptr);
  int (*memcpy_async)(void* dst, const void* src, size_t bytes, void* stream);
  int (*memset_async)(void* dst, int value, size_t bytes, void* stream);

  // CUDA's stream-ordered pool (cudaMallocAsync): the device's default pool, which keeps what
  // is freed (release threshold: unlimited). pool_malloc gives null when out of memory.
  int (*pool_open)(int device, void** pool);
  int (*pool_malloc)(int device, size_t bytes, void* stream, void** ptr);
  int (*pool_free)(void* ptr, void* stream);
  int (*pool_trim)(int device, void* pool);  // after synchronising the device
  int (*pool_usage)(void* pool, uint64_t* reserved, uint64_t* reserved_peak);
  int (*pool_reset_peak)(void* pool);

  // Graphs: capture (thread-local mode) from a stream, instantiate, replay.
  int (*graph_begin_capture)(void* stream);
  int (*graph_end_capture)(void* stream, void** graph);
  int (*graph_is_capturing)(void* stream, int* capturing);
  int (*graph_instantiate)(void* graph, void** exec);
  int (*graph_launch)(void* exec, void* stream);
  int (*graph_destroy)(void* graph, void* exec);

  // The runtime's kernels: strided copy with dtype conversion (also a packed chunk into a
  // strided view), fill, and a kernel that keeps a stream busy for a while (for tests).
  int (*copy)(const PthrunCudaCopyArgs* args);
  int (*fill)(const PthrunCudaFillArgs* args);
  int (*busy_wait)(int device, void* stream, uint32_t microseconds);

  // cuBLASLt, loaded on first use: loads it now and says which (version and file).
  int (*load_blas)(int* version, const char** path);

  // The kernels' launchers.
  int (*embedding)(const PthrunCudaEmbeddingArgs* args);
  int (*layernorm)(const PthrunCudaLayernormArgs* args);
  int (*linear)(const PthrunCudaLinearArgs* args, int* path);
  // The path linear would take for these sizes, dtypes and pointer alignments; runs nothing
  // (the pointers are never read).
  int (*linear_path)(const PthrunCudaLinearArgs* args, int* path);
  int (*kv_cache_append)(const PthrunCudaKvAppendArgs* args);
  int (*attention_prefill)(const PthrunCudaPrefillArgs* args);
  int (*attention_decode)(const PthrunCudaDecodeArgs* args);
  int (*sample)(const PthrunCudaSampleArgs* args);

  // Nonzero when linear takes PTHRUN_CUDA_GELU_ERF (added after the table's first release:
  // the core refuses a plugin whose table ends before this field).
  int linear_gelu_erf;
};

typedef const PthrunCudaPluginV1* (*PthrunCudaPluginEntryV1)(void);

}  // extern "C"
