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

std::string CudaGraph::capture(const Stream& stream, const std::function<void()>& enqueue) {
  if (!stream.device().is_cuda() || !stream.native()) return "a CUDA graph is captured from a stream of its own on a GPU";
  reset();
  const auto s = static_cast<cudaStream_t>(stream.native());
  // ThreadLocal: only this thread's unsafe calls (a cudaMalloc, a synchronisation) invalidate
  // the capture; other threads (other sessions, the loader) keep working meanwhile.
  if (cudaError_t status = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal); status != cudaSuccess)
    return str("cudaStreamBeginCapture: ", cudaGetErrorString(status));
  std::string failure;
  try {
    enqueue();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  // Always end the capture, whatever happened inside: a stream left capturing fails every
  // later call on it.
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(s, &graph);
  (void)cudaGetLastError();  // a failed capture leaves a non-sticky error behind
  if (failure.empty() && ended != cudaSuccess) failure = str("cudaStreamEndCapture: ", cudaGetErrorString(ended));
  if (!failure.empty()) {
    if (graph) PTHRUN_CUDA_WARN(cudaGraphDestroy(graph));
    return failure;
  }
  graph_ = graph;
  cudaGraphExec_t exec = nullptr;
  if (cudaError_t status = cudaGraphInstantiate(&exec, graph, 0); status != cudaSuccess) {
    (void)cudaGetLastError();
    reset();
    return str("cudaGraphInstantiate: ", cudaGetErrorString(status));
  }
  exec_ = exec;
  return {};
}

bool CudaGraph::capturing(const Stream& stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  PTHRUN_CUDA_CHECK(cudaStreamIsCapturing(static_cast<cudaStream_t>(stream.native()), &status));
  return status != cudaStreamCaptureStatusNone;
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

std::string CudaGraph::capture(const Stream&, const std::function<void()>&) { return "CUDA graphs need a build with CUDA"; }
bool CudaGraph::capturing(const Stream&) { return false; }
void CudaGraph::replay(const Stream&) const { throw Error("CUDA graphs need a build with CUDA"); }
void CudaGraph::reset() noexcept {}

#endif

}  // namespace pthrun
