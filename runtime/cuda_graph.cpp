#include "runtime/cuda_graph.h"

#include <utility>

#include "runtime/cuda_plugin.h"
#include "runtime/error.h"

namespace pthrun {

CudaGraph::CudaGraph(CudaGraph&& other) noexcept
    : graph_(std::exchange(other.graph_, nullptr)), exec_(std::exchange(other.exec_, nullptr)) {}

CudaGraph& CudaGraph::operator=(CudaGraph&& other) noexcept {
  if (this != &other) {
    reset();
    graph_ = std::exchange(other.graph_, nullptr);
    exec_ = std::exchange(other.exec_, nullptr);
  }
  return *this;
}

void CudaGraph::begin_capture(const Stream& stream) {
  PTHRUN_CHECK(stream.device().is_cuda() && stream.native(),
               "a CUDA graph is captured from a stream of its own on a GPU");
  reset();
  cuda_check(cuda_plugin().graph_begin_capture(stream.native()));
}

void CudaGraph::end_capture(const Stream& stream) {
  PTHRUN_CHECK(stream.device().is_cuda() && stream.native(), "end of a CUDA graph capture on a stream that has none");
  const PthrunCudaPluginV1& api = cuda_plugin();
  cuda_check(api.graph_end_capture(stream.native(), &graph_));
  cuda_check(api.graph_instantiate(graph_, &exec_));
}

void CudaGraph::abandon_capture(const Stream& stream) noexcept {
  if (!stream.device().is_cuda() || !stream.native()) return;
  const PthrunCudaPluginV1& api = cuda_plugin();
  int capturing = 0;
  if (!cuda_warn(api.graph_is_capturing(stream.native(), &capturing)) || !capturing) return;
  void* graph = nullptr;
  // An invalidated capture ends with an error and no graph; that is expected here.
  if (api.graph_end_capture(stream.native(), &graph) == PTHRUN_CUDA_OK && graph)
    cuda_warn(api.graph_destroy(graph, nullptr));
}

void CudaGraph::replay(const Stream& stream) const {
  PTHRUN_CHECK(exec_, "replay of a CUDA graph that was not captured");
  cuda_check(cuda_plugin().graph_launch(exec_, stream.native()));
}

void CudaGraph::reset() noexcept {
  // A graph exists only after a capture, which opened the plugin.
  if (graph_ || exec_) cuda_warn(cuda_plugin().graph_destroy(graph_, exec_));
  exec_ = graph_ = nullptr;
}

}  // namespace pthrun
