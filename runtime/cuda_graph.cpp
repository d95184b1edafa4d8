#include "runtime/cuda_graph.h"

#include <utility>

#include "runtime/error.h"

#if PTHRUN_WITH_CUDA
#include "runtime/cuda_check.h"
#endif

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

#if PTHRUN_WITH_CUDA

void CudaGraph::begin_capture(const Stream& stream) {
  PTHRUN_CHECK(stream.device().is_cuda() && stream.native(),
               "a CUDA graph is captured from a stream of its own on a GPU");
  reset();
  // Relaxed: other threads may keep making unrelated CUDA calls (the loader, the allocator).
  PTHRUN_CUDA_CHECK(cudaStreamBeginCapture(static_cast<cudaStream_t>(stream.native()),
                                           cudaStreamCaptureModeThreadLocal));
}

void CudaGraph::end_capture(const Stream& stream) {
  cudaGraph_t graph = nullptr;
  PTHRUN_CUDA_CHECK(cudaStreamEndCapture(static_cast<cudaStream_t>(stream.native()), &graph));
  graph_ = graph;
  cudaGraphExec_t exec = nullptr;
  PTHRUN_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  exec_ = exec;
}

void CudaGraph::replay(const Stream& stream) const {
  PTHRUN_CHECK(exec_, "replay of a CUDA graph that was not captured");
  PTHRUN_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), static_cast<cudaStream_t>(stream.native())));
}

void CudaGraph::reset() noexcept {
  if (exec_) PTHRUN_CUDA_WARN(cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_)));
  if (graph_) PTHRUN_CUDA_WARN(cudaGraphDestroy(static_cast<cudaGraph_t>(graph_)));
  exec_ = graph_ = nullptr;
}

#else

void CudaGraph::begin_capture(const Stream&) { throw Error("CUDA graphs need a build with CUDA"); }
void CudaGraph::end_capture(const Stream&) { throw Error("CUDA graphs need a build with CUDA"); }
void CudaGraph::replay(const Stream&) const { throw Error("CUDA graphs need a build with CUDA"); }
void CudaGraph::reset() noexcept {}

#endif

}  // namespace pthrun
