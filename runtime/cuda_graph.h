// A CUDA graph captured from a stream once and replayed many times (the batch-1 decode step):
// a replay is one launch instead of one per kernel.
//
//   CudaGraph graph;
//   graph.begin_capture(stream);
//   run_decode_step(stream);          // nothing may allocate or synchronise in here
//   graph.end_capture(stream);
//   graph.replay(stream);             // as often as needed
//
// Capture runs in CUDA's thread-local mode: calls that are unsafe during a capture (cudaMalloc,
// synchronisation) fail only when made by the capturing thread, so other threads (the loader,
// the allocator serving them) go on as usual.
#pragma once

#include "runtime/stream.h"

namespace pthrun {

class CudaGraph {
 public:
  CudaGraph() = default;
  CudaGraph(CudaGraph&& other) noexcept;
  CudaGraph& operator=(CudaGraph&& other) noexcept;
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;
  ~CudaGraph() { reset(); }

  void begin_capture(const Stream& stream);
  // Ends the capture and instantiates the graph; throws (leaving it not ready) on failure. The
  // stream has left capture mode either way.
  void end_capture(const Stream& stream);
  // Ends a capture that went wrong (an exception between begin and end), dropping what was
  // captured, so that the stream can run work again. A no-op when the stream is not capturing.
  static void abandon_capture(const Stream& stream) noexcept;
  void replay(const Stream& stream) const;
  bool ready() const { return exec_ != nullptr; }
  void reset() noexcept;

 private:
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
};

}  // namespace pthrun
