#include "runtime/cuda_runtime_ops.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <cstdio>

#include "runtime/cuda_check.h"

namespace pthrun::plugin {

namespace {

cudaStream_t as_stream(void* handle) { return static_cast<cudaStream_t>(handle); }
cudaEvent_t as_event(void* handle) { return static_cast<cudaEvent_t>(handle); }

// Statics that free device memory may run after the CUDA runtime has begun tearing itself down
// at exit: there is nothing left to free then, and nothing to report.
cudaError_t unless_exiting(cudaError_t status) {
  if (status != cudaErrorCudartUnloading) return status;
  cudaGetLastError();
  return cudaSuccess;
}

// Why the runtime found no device, in the driver's own words when its library is missing.
[[noreturn]] void no_device(cudaError_t status) {
  cudaGetLastError();
  std::string message = str("no usable CUDA device: cudaGetDeviceCount says ", cudaGetErrorName(status), " (",
                            cudaGetErrorString(status), ")");
  if (void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL)) {
    dlclose(driver);
  } else {
    const char* why = dlerror();
    message += str("; the NVIDIA driver's library: ", why ? why : "libcuda.so.1 cannot be opened");
  }
  throw CudaError(static_cast<int>(status), message);
}

}  // namespace

void versions(PthrunCudaVersions* out) {
  *out = {};
  PTHRUN_CUDA_CHECK(cudaRuntimeGetVersion(&out->runtime));
  if (cudaDriverGetVersion(&out->driver) != cudaSuccess) {
    cudaGetLastError();
    out->driver = 0;
  }
  std::snprintf(out->architectures, sizeof out->architectures, "%s", PTHRUN_CUDA_ARCHITECTURES);
}

void device_count(int* count) {
  *count = 0;
  const cudaError_t status = cudaGetDeviceCount(count);
  if (status != cudaSuccess) no_device(status);
}

void device_properties(int device, PthrunCudaDeviceProperties* out) {
  cudaDeviceProp p{};
  PTHRUN_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  *out = {};
  std::snprintf(out->name, sizeof out->name, "%s", p.name);
  out->total_memory = p.totalGlobalMem;
  out->multiprocessors = p.multiProcessorCount;
  out->compute_major = p.major;
  out->compute_minor = p.minor;
}

void set_device(int device) { PTHRUN_CUDA_CHECK(cudaSetDevice(device)); }

void device_synchronize(int device) {
  PTHRUN_CUDA_CHECK(cudaSetDevice(device));
  PTHRUN_CUDA_CHECK(cudaDeviceSynchronize());
}

void memory_info(int device, std::size_t* free, std::size_t* total) {
  PTHRUN_CUDA_CHECK(cudaSetDevice(device));
  PTHRUN_CUDA_CHECK(cudaMemGetInfo(free, total));
}

void stream_create(int device, int priority, void** stream) {
  PTHRUN_CUDA_CHECK(cudaSetDevice(device));
  cudaStream_t handle = nullptr;
  PTHRUN_CUDA_CHECK(cudaStreamCreateWithPriority(&handle, cudaStreamNonBlocking, priority));
  *stream = handle;
}

void stream_destroy(void* stream) { PTHRUN_CUDA_CHECK(unless_exiting(cudaStreamDestroy(as_stream(stream)))); }

void stream_synchronize(void* stream) {
  PTHRUN_CUDA_CHECK(unless_exiting(cudaStreamSynchronize(as_stream(stream))));
}

void stream_wait_event(void* stream, void* event) {
  PTHRUN_CUDA_CHECK(cudaStreamWaitEvent(as_stream(stream), as_event(event), 0));
}

void event_create(int device, int timing, void** event) {
  PTHRUN_CUDA_CHECK(cudaSetDevice(device));
  cudaEvent_t handle = nullptr;
  PTHRUN_CUDA_CHECK(cudaEventCreateWithFlags(&handle, timing ? cudaEventDefault : cudaEventDisableTiming));
  *event = handle;
}

void event_destroy(void* event) { PTHRUN_CUDA_CHECK(unless_exiting(cudaEventDestroy(as_event(event)))); }

void event_record(void* event, void* stream) { PTHRUN_CUDA_CHECK(cudaEventRecord(as_event(event), as_stream(stream))); }

void event_synchronize(void* event) { PTHRUN_CUDA_CHECK(unless_exiting(cudaEventSynchronize(as_event(event)))); }

void event_query(void* event, int* done) {
  const cudaError_t status = cudaEventQuery(as_event(event));
  if (status == cudaErrorNotReady) {
    cudaGetLastError();
    *done = 0;
    return;
  }
  PTHRUN_CUDA_CHECK(unless_exiting(status));
  *done = 1;
}

void event_elapsed_ms(void* start, void* end, float* ms) {
  PTHRUN_CUDA_CHECK(cudaEventElapsedTime(ms, as_event(start), as_event(end)));
}

void device_malloc(int device, std::size_t bytes, void** ptr) {
  PTHRUN_CUDA_CHECK(cudaSetDevice(device));
  *ptr = nullptr;
  const cudaError_t status = cudaMalloc(ptr, bytes);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: the caller releases its cache and retries
    *ptr = nullptr;
    return;
  }
  PTHRUN_CUDA_CHECK(status);
}

void device_free(int device, void* ptr) {
  PTHRUN_CUDA_CHECK(unless_exiting(cudaSetDevice(device)));
  PTHRUN_CUDA_CHECK(unless_exiting(cudaFree(ptr)));
}

void host_alloc(std::size_t bytes, void** ptr) { PTHRUN_CUDA_CHECK(cudaHostAlloc(ptr, bytes, cudaHostAllocPortable)); }

void host_free(void* ptr) { PTHRUN_CUDA_CHECK(unless_exiting(cudaFreeHost(ptr))); }

void memcpy_async(void* dst, const void* src, std::size_t bytes, void* stream) {
  PTHRUN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, as_stream(stream)));
}

void memset_async(void* dst, int value, std::size_t bytes, void* stream) {
  PTHRUN_CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, as_stream(stream)));
}

void pool_open(int device, void** pool) {
  PTHRUN_CUDA_CHECK(cudaSetDevice(device));
  cudaMemPool_t handle = nullptr;
  PTHRUN_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&handle, device));
  uint64_t threshold = UINT64_MAX;
  PTHRUN_CUDA_CHECK(cudaMemPoolSetAttribute(handle, cudaMemPoolAttrReleaseThreshold, &threshold));
  *pool = handle;
}

void pool_malloc(int device, std::size_t bytes, void* stream, void** ptr) {
  PTHRUN_CUDA_CHECK(cudaSetDevice(device));
  *ptr = nullptr;
  const cudaError_t status = cudaMallocAsync(ptr, bytes, as_stream(stream));
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    *ptr = nullptr;
    return;
  }
  PTHRUN_CUDA_CHECK(status);
}

void pool_free(void* ptr, void* stream) { PTHRUN_CUDA_CHECK(unless_exiting(cudaFreeAsync(ptr, as_stream(stream)))); }

void pool_trim(int device, void* pool) {
  PTHRUN_CUDA_CHECK(cudaSetDevice(device));
  PTHRUN_CUDA_CHECK(cudaDeviceSynchronize());
  PTHRUN_CUDA_CHECK(cudaMemPoolTrimTo(static_cast<cudaMemPool_t>(pool), 0));
}

void pool_usage(void* pool, uint64_t* reserved, uint64_t* reserved_peak) {
  auto handle = static_cast<cudaMemPool_t>(pool);
  PTHRUN_CUDA_CHECK(cudaMemPoolGetAttribute(handle, cudaMemPoolAttrReservedMemCurrent, reserved));
  PTHRUN_CUDA_CHECK(cudaMemPoolGetAttribute(handle, cudaMemPoolAttrReservedMemHigh, reserved_peak));
}

void pool_reset_peak(void* pool) {
  uint64_t zero = 0;
  PTHRUN_CUDA_CHECK(cudaMemPoolSetAttribute(static_cast<cudaMemPool_t>(pool), cudaMemPoolAttrReservedMemHigh, &zero));
}

// Thread-local mode: only the capturing thread is kept from calls that are unsafe during a
// capture (cudaMalloc, synchronisation); the loader's and the allocator's other threads go on.
void graph_begin_capture(void* stream) {
  PTHRUN_CUDA_CHECK(cudaStreamBeginCapture(as_stream(stream), cudaStreamCaptureModeThreadLocal));
}

void graph_end_capture(void* stream, void** graph) {
  cudaGraph_t handle = nullptr;
  PTHRUN_CUDA_CHECK(cudaStreamEndCapture(as_stream(stream), &handle));
  *graph = handle;
}

void graph_is_capturing(void* stream, int* capturing) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  PTHRUN_CUDA_CHECK(cudaStreamIsCapturing(as_stream(stream), &status));
  *capturing = status != cudaStreamCaptureStatusNone;
}

void graph_instantiate(void* graph, void** exec) {
  cudaGraphExec_t handle = nullptr;
  PTHRUN_CUDA_CHECK(cudaGraphInstantiate(&handle, static_cast<cudaGraph_t>(graph), 0));
  *exec = handle;
}

void graph_launch(void* exec, void* stream) {
  PTHRUN_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec), as_stream(stream)));
}

void graph_destroy(void* graph, void* exec) {
  if (exec) PTHRUN_CUDA_CHECK(unless_exiting(cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec))));
  if (graph) PTHRUN_CUDA_CHECK(unless_exiting(cudaGraphDestroy(static_cast<cudaGraph_t>(graph))));
}

}  // namespace pthrun::plugin
