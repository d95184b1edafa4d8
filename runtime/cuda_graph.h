// A CUDA graph captured from a stream once and replayed many times (the batch-1 decode step):
// a replay is one launch instead of one per kernel.
//
//   CudaGraph graph;
//   std::string failure = graph.capture(stream, [&] { run_decode_step(stream); });
//   if (failure.empty()) graph.replay(stream);   // as often as needed
//   else run_decode_step(stream);                // eagerly: the stream is no longer capturing
//
// Nothing may allocate or synchronise inside the captured function. Only in CUDA builds;
// elsewhere capture() reports that it cannot capture.
#pragma once

#include <functional>
#include <string>

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

  // Captures what `enqueue` submits to `stream` and instantiates it. Whatever fails (enqueue
  // throws, the capture is invalidated, instantiation fails), the stream's capture is ended,
  // the graph stays not ready, and the reason is returned; success returns "".
  std::string capture(const Stream& stream, const std::function<void()>& enqueue);
  void replay(const Stream& stream) const;
  // Whether `stream` is capturing now (for tests: a failed capture must not leave it so).
  static bool capturing(const Stream& stream);
  bool ready() const { return exec_ != nullptr; }
  void reset() noexcept;

 private:
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
};

}  // namespace pthrun
