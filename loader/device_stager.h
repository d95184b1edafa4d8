// The GPU half of a load: a bounded ring of pinned host buffers and one copy stream per
// device. The host fills one buffer (reading the mapping, gathering strided views, converting
// dtypes) while the DMA engine uploads the previous ones, so reading overlaps copying.
//
//   DeviceStager stager(64 << 20);          // 4 pinned buffers of 16 MiB
//   stager.stage(src_at_first, src, DType::f32, first, count);   // waits for a free buffer
//   stager.upload(destination, first, count);                    // async, on the copy stream
//   stager.done();                                               // the buffer is reusable once uploaded
//   stager.finish();                                             // waits for every upload
//
// Dtype conversion happens on the host, into the staging buffer, so the device holds nothing
// but the destinations: peak device memory during a load equals their bytes exactly. The one
// exception is a destination that is a non-contiguous view (a column slice of a fused
// buffer): its chunks go through one device buffer of a chunk's size, taken from that
// destination's allocator (so its statistics show it), and a small kernel scatters them into
// place. The ring never holds more than staging_bytes of host memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "loader/host_copy.h"
#include "runtime/tensor.h"

namespace pthrun {

class DeviceStager {
 public:
  // Throws pthrun::Error when the CUDA backend or a device is missing.
  explicit DeviceStager(std::size_t staging_bytes);
  ~DeviceStager();
  DeviceStager(const DeviceStager&) = delete;
  DeviceStager& operator=(const DeviceStager&) = delete;

  // Bytes of one pinned buffer: a chunk never holds more (a multiple of 8, at least 8).
  std::size_t chunk_bytes() const;
  // Gathers and converts elements [first, first + count) of the source into the next buffer.
  void stage(const void* src_at_first, const ViewLayout& src, DType dst_dtype, int64_t first, int64_t count);
  // Queues the upload of the staged elements into elements [first, first + count) of `dst`.
  void upload(const Tensor& dst, int64_t first, int64_t count);
  // The staged buffer may be refilled once the uploads queued so far have finished.
  void done();
  // Waits until every queued upload has finished.
  void finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace pthrun
