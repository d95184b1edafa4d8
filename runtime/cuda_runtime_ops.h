// The CUDA backend's side of the runtime entries of cuda_plugin_api.h (plugin sources only):
// devices, streams, events, memory, CUDA's stream-ordered pool and graphs over the CUDA runtime.
// Each throws CudaError (through PTHRUN_CUDA_CHECK) and is wrapped into a status-returning entry
// by kernels/cuda_plugin.cpp. Handles are the CUDA runtime's own, passed as void*.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/cuda_plugin_api.h"

namespace pthrun::plugin {

void versions(PthrunCudaVersions* out);
void device_count(int* count);
void device_properties(int device, PthrunCudaDeviceProperties* out);
void set_device(int device);
void device_synchronize(int device);
void memory_info(int device, std::size_t* free, std::size_t* total);

void stream_create(int device, int priority, void** stream);
void stream_destroy(void* stream);
void stream_synchronize(void* stream);
void stream_wait_event(void* stream, void* event);
void event_create(int device, int timing, void** event);
void event_destroy(void* event);
void event_record(void* event, void* stream);
void event_synchronize(void* event);
void event_query(void* event, int* done);
void event_elapsed_ms(void* start, void* end, float* ms);

void device_malloc(int device, std::size_t bytes, void** ptr);
void device_free(int device, void* ptr);
void host_alloc(std::size_t bytes, void** ptr);
void host_free(void* ptr);
void memcpy_async(void* dst, const void* src, std::size_t bytes, void* stream);
void memset_async(void* dst, int value, std::size_t bytes, void* stream);

void pool_open(int device, void** pool);
void pool_malloc(int device, std::size_t bytes, void* stream, void** ptr);
void pool_free(void* ptr, void* stream);
void pool_trim(int device, void* pool);
void pool_usage(void* pool, uint64_t* reserved, uint64_t* reserved_peak);
void pool_reset_peak(void* pool);

void graph_begin_capture(void* stream);
void graph_end_capture(void* stream, void** graph);
void graph_is_capturing(void* stream, int* capturing);
void graph_instantiate(void* graph, void** exec);
void graph_launch(void* exec, void* stream);
void graph_destroy(void* graph, void* exec);

}  // namespace pthrun::plugin
