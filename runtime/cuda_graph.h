// A CUDA graph captured from a stream once and replayed many times (the batch-1 decode step):
// a replay is one launch instead of one per kernel.
//
//   CudaGraph graph;
//   graph.begin_capture(stream);
//   run_decode_step(stream);          // nothing may allocate or synchronise in here
//   graph.end_capture(stream);
//   graph.replay(stream);             // as often as needed
//
// Only in CUDA builds; elsewhere begin_capture throws.
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
  // Ends the capture and instantiates the graph; throws (leaving it not ready) on failure.
  void end_capture(const Stream& stream);
  void replay(const Stream& stream) const;
  bool ready() const { return exec_ != nullptr; }
  void reset() noexcept;

 private:
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
};

}  // namespace pthrun
