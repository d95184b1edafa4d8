// Streams tensors from an open checkpoint into destinations the caller has already allocated,
// on the CPU or a GPU: bytes go from the memory-mapped file through a bounded ring of pinned
// staging buffers to the device with asynchronous copies, so that no second copy of the
// weights ever exists, on the device or on the host.
//
//   std::vector<LoadRequest> requests;
//   for (const TensorInfo& t : ckpt.state_dict())
//     requests.push_back({t, weights.at(t.name)});   // destinations: same shape, any float dtype
//   LoadStats stats = load_tensors(ckpt, requests);
//
// A destination may have another floating dtype than its source (converted on the way, with no
// full-size extra buffer) and may be a view (a slice of a fused buffer). A shape mismatch is an
// error naming the tensor. Each tensor is copied under the allocator scope label
// "load/<name>".
//
// Instead of a destination a request may name a sink (ElementSink): it is handed the source's
// elements as f32, in row-major order, one chunk at a time, and builds what it wants from them
// (int8 weights quantized while streaming: the f32 tensor never exists whole).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "loader/checkpoint.h"
#include "loader/verify.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace pthrun {

// Takes a tensor's elements as they stream by, converted to f32, in row-major order.
class ElementSink {
 public:
  virtual ~ElementSink() = default;
  virtual void append(const float* values, int64_t count) = 0;
  virtual void finish() = 0;  // after the last element
};

struct LoadRequest {
  TensorInfo source;
  Tensor destination;                  // undefined when there is a sink
  std::shared_ptr<ElementSink> sink = {};
};

// How far a load has come: sent after each chunk, and once more with done set.
struct LoadProgress {
  uint64_t tensors = 0, total_tensors = 0;
  uint64_t bytes = 0, total_bytes = 0;  // written into destinations
  bool done = false;
};

struct LoadOptions {
  std::size_t staging_bytes = std::size_t(64) << 20;  // the pinned ring, in total
  // Told of the load's progress, on the loading thread (a progress bar: tools/progress_bar.h).
  std::function<void(const LoadProgress&)> on_progress;
  // Check every record the load reads, whole, against its zip CRC-32 (verify.h); a mismatch
  // throws pthrun::Error naming the record.
  bool verify = false;
};

struct LoadStats {
  uint64_t tensors = 0;
  uint64_t bytes_read = 0;     // from the file
  uint64_t bytes_written = 0;  // into destinations
  double seconds = 0;
  std::vector<RecordCheck> records;  // with verify: one per record read, in the order read
};

LoadStats load_tensors(const Checkpoint& checkpoint, const std::vector<LoadRequest>& requests,
                       const LoadOptions& options = {});

}  // namespace pthrun
