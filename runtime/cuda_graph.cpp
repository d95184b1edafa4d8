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

std::string CudaGraph::capture(const Stream& stream, const std::function<void()>& enqueue) {
  if (!stream.device().is_cuda() || !stream.native()) return "a CUDA graph is captured from a stream of its own on a GPU";
  reset();
  const PthrunCudaPluginV1& api = cuda_plugin();
  std::string failure;
  try {
    cuda_check(api.graph_begin_capture(stream.native()));
  } catch (const std::exception& e) {
    return e.what();
  }
  try {
    enqueue();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  // Always end the capture, whatever happened inside: a stream left capturing fails every later
  // call on it. An invalidated capture ends with an error and no graph.
  void* graph = nullptr;
  const int ended = api.graph_end_capture(stream.native(), &graph);
  try {
    if (failure.empty()) cuda_check(ended);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!failure.empty()) {
    if (graph) cuda_warn(api.graph_destroy(graph, nullptr));
    return failure;
  }
  graph_ = graph;
  try {
    cuda_check(api.graph_instantiate(graph_, &exec_));
  } catch (const std::exception& e) {
    reset();
    return e.what();
  }
  return {};
}

bool CudaGraph::capturing(const Stream& stream) {
  if (!stream.device().is_cuda() || !stream.native()) return false;
  int capturing = 0;
  cuda_check(cuda_plugin().graph_is_capturing(stream.native(), &capturing));
  return capturing != 0;
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
