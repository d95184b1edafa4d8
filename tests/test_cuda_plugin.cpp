// The CUDA backend as a plugin, tested on the CPU.
//
// In process, against the fake backend (tests/fake_cuda_plugin.h, named by PTHRUN_CUDA_PLUGIN
// and linked so that its state can be set): errors cross the boundary as status and message
// and become CudaError / CublasError; frees from noexcept code survive a sticky error; copies
// and fills without a stream are ordered after all the device's work on a stream of their own;
// a stream's cuBLASLt workspace lives and dies with the stream; GEMM fallbacks are counted.
//
// As a user runs pthrun: --help, info and CPU commands map no CUDA library (LD_DEBUG); without
// the plugin every CPU command works and --device cuda fails in one line naming what is missing;
// the plugin is found beside the binary and in ../lib; broken plugins are refused in one line.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/cuda_gemm.h"
#include "kernels/matmul.h"
#include "runtime/alloc_config.h"
#include "runtime/caching_allocator.h"
#include "runtime/cuda_plugin.h"
#include "runtime/file_util.h"
#include "runtime/memory_backend.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"
#include "tests/cli_runner.h"
#include "tests/fake_cuda_plugin.h"

using namespace pthrun;
using namespace pthrun::test;

namespace {

const Device gpu = cuda_device(0);
FakeCuda& fake = *fake_cuda();

// The fake's log from `first` on.
std::vector<std::string> log_since(std::size_t first) {
  return std::vector<std::string>(fake.log.begin() + static_cast<long>(first), fake.log.end());
}

int lines(const std::string& text) { return static_cast<int>(std::count(text.begin(), text.end(), '\n')); }

// The pthrun of this build, copied into `dir` (so that no plugin is beside it), or into dir/bin.
std::string copy_pthrun(const TempDir& dir, const std::string& sub = "") {
  fs::create_directories(dir.path / sub);
  const fs::path to = dir.path / sub / "pthrun";
  fs::copy_file(PTHRUN_BINARY_DIR "/pthrun", to);
  return to.string();
}

// A one-block model, made once per test that asks.
std::string small_model(const TempDir& dir) {
  const std::string path = dir / "small.pth";
  const CliResult r = run_pthrun("init --config gpt2-small --layers 1 --context 16 -o " + quote(path));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  return path;
}

// Libraries whose mapping would mean CUDA was touched.
const char* const kCudaLibraries[] = {"libpthrun_cuda", "libcudart", "libcublas", "libcuda.so"};

}  // namespace

TEST_CASE("the backend named by PTHRUN_CUDA_PLUGIN is the one in use") {
  const CudaBackendStatus status = cuda_backend_status(true);
  CHECK(status.loaded);
  CHECK(status.path == PTHRUN_FAKE_PLUGIN);
  CHECK(std::string(cuda_plugin().description).starts_with("fake CUDA backend"));
  CHECK(cuda_device_count() == 1);
  CHECK(device_problem(gpu).empty());
  CHECK(device_problem(cuda_device(1)) == "no such device: 1 CUDA device(s) present");
  CHECK_THROWS_WITH_AS(check_device(cuda_device(1)), "cuda:1: no such device: 1 CUDA device(s) present", Error);
}

TEST_CASE("errors cross the boundary as status and message, and become CudaError or CublasError") {
  const Tensor x = Tensor::zeros({2, 3}, DType::f32, gpu), w = Tensor::zeros({4, 3}, DType::f32, gpu);
  const Tensor out = Tensor::empty({2, 4}, DType::f32, gpu);
  const Stream stream = Stream::create(gpu);
  fake.fail_linear = true;
  CHECK_THROWS_WITH_AS(kernels::linear(out, x, w, kernels::WeightLayout::out_in, Tensor(), kernels::Epilogue::none, {},
                                       stream),
                       doctest::Contains("CUBLAS_STATUS_INTERNAL_ERROR"), CublasError);
  fake.fail_linear = false;
  fake.fail_frees = true;
  try {
    Event::create(gpu);
    FAIL("a failing event_create did not throw");
  } catch (const CudaError& e) {
    CHECK(e.code() == 700);
    CHECK(std::string(e.what()).find("cudaErrorIllegalAddress") != std::string::npos);
  }
  fake.fail_frees = false;
  // A launcher's refusal (the fake has no layernorm) is a plain pthrun::Error with its message.
  CHECK_THROWS_WITH_AS(cuda_check(cuda_plugin().layernorm(nullptr)), "layernorm: not in the fake CUDA backend", Error);
}

TEST_CASE("frees from noexcept code survive a sticky CUDA error: they warn instead of terminating") {
  // Each free below runs in a noexcept function (Allocation's destructor, the allocator's own);
  // a throwing check there would end the process in std::terminate.
  for (const char* mode : {"mode:nocache", "mode:caching"}) {
    CAPTURE(mode);
    auto alloc = std::make_unique<CachingAllocator>(make_cuda_backend(gpu), AllocatorConfig::parse(mode));
    const Stream other = Stream::create(gpu);
    Allocation plain = alloc->allocate(3 << 20), shared = alloc->allocate(3 << 20);
    alloc->record_stream(shared, other.id());
    fake.fail_frees = true;  // as after an illegal memory access: every later call fails
    plain.reset();           // nocache: cudaFree now
    shared.reset();          // records an event on `other`: fails, counted as done
    alloc.reset();           // waits for events, frees the cache
    fake.fail_frees = false;
    CHECK(!fake.lost.empty());  // the frees were attempted, and failed
    for (void* p : fake.lost) std::free(p);
    fake.lost.clear();
  }
}

TEST_CASE("GPU copies and fills without a stream wait for the whole device and run on a stream of their own") {
  const Tensor a = Tensor::empty({4, 5}, DType::f32, gpu), b = Tensor::empty({4, 5}, DType::f32, gpu);
  const std::size_t first = fake.log.size();
  a.fill_(2.5);
  b.copy_from(a);
  const std::vector<std::string> log = log_since(first);
  REQUIRE(log.size() == 6);
  for (std::size_t i : {0u, 3u}) CHECK(log[i] == "device_synchronize");  // everything before is done
  CHECK(log[1].starts_with("fill "));
  CHECK(log[4].starts_with("copy "));
  const std::string own = log[1].substr(5);
  CHECK(own != "(nil)");  // not the legacy default stream
  CHECK(log[2] == "stream_synchronize " + own);  // and finished before returning
  CHECK(log[4] == "copy " + own);
  CHECK(log[5] == "stream_synchronize " + own);
  CHECK(b.to(cpu_device).to_doubles() == std::vector<double>(20, 2.5));

  // With a stream: queued there, nothing else waited for.
  const Stream stream = Stream::create(gpu);
  const std::size_t second = fake.log.size();
  a.fill_(1, &stream);
  b.copy_from(a, &stream);
  CHECK(log_since(second) == std::vector<std::string>{"fill 0x10", "copy 0x10"});
}

TEST_CASE("a stream's cuBLASLt workspace is allocated on its first product, labelled, and freed with it") {
  Allocator& alloc = device_allocator(gpu);
  const Tensor x = Tensor::zeros({2, 3}, DType::f32, gpu), w = Tensor::zeros({4, 3}, DType::f32, gpu);
  const Tensor out = Tensor::empty({2, 4}, DType::f32, gpu);
  const int64_t before = alloc.stats().allocated_bytes[all_pools].current;
  void* first_workspace = nullptr;
  {
    const Stream stream = Stream::create(gpu);
    kernels::linear(out, x, w, kernels::WeightLayout::out_in, Tensor(), kernels::Epilogue::none, {}, stream);
    first_workspace = fake.last_workspace;
    CHECK(fake.last_workspace_bytes == kernels::kGemmWorkspaceBytes);
    CHECK(alloc.stats().allocated_bytes[all_pools].current - before == static_cast<int64_t>(kernels::kGemmWorkspaceBytes));
    kernels::linear(out, x, w, kernels::WeightLayout::out_in, Tensor(), kernels::Epilogue::none, {}, stream);
    CHECK(fake.last_workspace == first_workspace);  // one per stream, kept
    bool labelled = false;
    for (const SegmentInfo& segment : alloc.snapshot().segments)
      for (const BlockInfo& block : segment.blocks)
        labelled |= block.address == reinterpret_cast<uint64_t>(first_workspace) && block.label == "workspace";
    CHECK(labelled);
  }
  CHECK(alloc.stats().allocated_bytes[all_pools].current == before);  // freed with the stream
  // The fake hands out the same stream handle again, as CUDA may: a new stream object owns a
  // new workspace all the same, allocated from scratch.
  const int64_t allocations = alloc.stats().allocation[all_pools].allocated;
  const Stream again = Stream::create(gpu);
  kernels::linear(out, x, w, kernels::WeightLayout::out_in, Tensor(), kernels::Epilogue::none, {}, again);
  CHECK(alloc.stats().allocation[all_pools].allocated == allocations + 1);
  CHECK(alloc.stats().allocated_bytes[all_pools].current - before == static_cast<int64_t>(kernels::kGemmWorkspaceBytes));
}

TEST_CASE("products that fall back to the naive kernel are counted, by shape") {
  kernels::reset_gemm_fallbacks();
  const Tensor x = Tensor::zeros({7, 3}, DType::f32, gpu), w = Tensor::zeros({4, 3}, DType::f32, gpu);
  const Tensor out = Tensor::empty({7, 4}, DType::f32, gpu);
  const Stream stream = Stream::create(gpu);
  auto product = [&] {
    kernels::linear(out, x, w, kernels::WeightLayout::out_in, Tensor(), kernels::Epilogue::none, {}, stream);
  };
  product();
  CHECK(kernels::gemm_fallback_count() == 0);
  fake.linear_path = PTHRUN_CUDA_LINEAR_NAIVE;
  product();
  product();
  fake.linear_path = PTHRUN_CUDA_LINEAR_FUSED;
  product();
  const std::vector<kernels::GemmFallback> fallbacks = kernels::gemm_fallbacks();
  REQUIRE(fallbacks.size() == 1);
  CHECK(fallbacks[0].count == 2);
  CHECK(fallbacks[0].shape.N == 7);
  CHECK(fallbacks[0].shape.to_string() == "f32 (7, 3) x (O, I) O=4 -> f32, out aligned 256");
  CHECK(kernels::gemm_fallback_count() == 2);
}

TEST_CASE("--help, info and CPU commands map no CUDA library") {
  TempDir dir("cuda-plugin");
  const std::string model = small_model(dir);
  std::vector<std::string> commands = {"--help", "tokenize 'Hello'",
                                       "generate " + quote(model) + " --prompt Hi -n 2 --device cpu"};
  // Without a driver, info and the default device do not even open the backend.
  if (!nvidia_driver_present()) {
    commands.push_back("info");
    commands.push_back("generate " + quote(model) + " --prompt Hi -n 2");
  }
  for (const std::string& command : commands) {
    CAPTURE(command);
    const CliResult r = run_pthrun(command, "PTHRUN_CUDA_PLUGIN= LD_DEBUG=libs");
    CHECK(r.status == 0);
    CHECK(r.err.find("libzip") != std::string::npos);  // LD_DEBUG did report the loads
    for (const char* library : kCudaLibraries) {
      CAPTURE(library);
      CHECK(r.err.find(library) == std::string::npos);
    }
  }
}

TEST_CASE("without the plugin, CPU commands work and --device cuda fails in one line naming what is missing") {
  TempDir dir("cuda-plugin");
  const std::string model = small_model(dir);
  const std::string pthrun = copy_pthrun(dir, "alone");
  CliResult r = run_program(pthrun, "generate " + quote(model) + " --prompt Hi -n 2 --device cpu", "PTHRUN_CUDA_PLUGIN=");
  CHECK_MESSAGE(r.status == 0, r.err);
  r = run_program(pthrun, "generate " + quote(model) + " --prompt Hi -n 2 --device cuda", "PTHRUN_CUDA_PLUGIN=");
  CHECK(r.status == 1);
  CHECK(lines(r.err) == 1);
  CHECK(r.err.starts_with("error: --device cuda: CUDA backend not installed: no libpthrun_cuda.so in " +
                          (dir.path / "alone").string() + ", " + (dir.path / "lib").string() + ";"));
  CHECK(r.err.find("PTHRUN_CUDA_PLUGIN") != std::string::npos);
  r = run_program(pthrun, "info", "PTHRUN_CUDA_PLUGIN=");
  CHECK(r.status == 0);
  CHECK(r.out.find("\nCUDA backend not installed: no libpthrun_cuda.so in") != std::string::npos);
}

TEST_CASE("the plugin is found beside the binary, and in ../lib for an installed bin/pthrun") {
  TempDir dir("cuda-plugin");
  const std::string model = small_model(dir);
  for (const auto& [bin, lib] : {std::pair<std::string, std::string>{"flat", "flat"}, {"prefix/bin", "prefix/lib"}}) {
    CAPTURE(bin);
    const std::string pthrun = copy_pthrun(dir, bin);
    fs::create_directories(dir.path / lib);
    const fs::path plugin = dir.path / lib / "libpthrun_cuda.so";
    fs::copy_file(PTHRUN_FAKE_PLUGIN, plugin);
    // The fake loads the weights into "device" memory, then has no kernel for the first step:
    // that message proves the plugin was the one beside the binary.
    const CliResult r =
        run_program(pthrun, "generate " + quote(model) + " --prompt Hi -n 2 --device cuda", "PTHRUN_CUDA_PLUGIN=");
    CHECK(r.status == 1);
    CHECK(r.err == "error: embedding: not in the fake CUDA backend\n");
    if (!nvidia_driver_present()) {
      const CliResult info = run_program(pthrun, "info", "PTHRUN_CUDA_PLUGIN=");
      CHECK(info.out.find("CUDA backend: " + fs::weakly_canonical(plugin).string() + " (not loaded") != std::string::npos);
    }
  }
}

TEST_CASE("a broken plugin is refused in one line: not a library, no entry point, another version, a missing dependency") {
  TempDir dir("cuda-plugin");
  const std::string model = small_model(dir);
  const std::string text_file = dir / "libpthrun_cuda.so";
  { OutputFile out(text_file); out.write("not a shared library\n"); out.commit(); }
  struct Case {
    std::string env, expected;
  };
  const std::vector<Case> cases = {
      {"PTHRUN_CUDA_PLUGIN=" + quote(text_file), "cannot load the CUDA backend " + text_file + ": " + text_file},
      {"PTHRUN_CUDA_PLUGIN=" + quote(PTHRUN_ABSENT_PLUGIN), "(named by PTHRUN_CUDA_PLUGIN) does not exist"},
      {"PTHRUN_CUDA_PLUGIN=" + quote(PTHRUN_NOT_A_PLUGIN), "has no entry point pthrun_cuda_plugin_v1"},
      {"FAKE_CUDA_ABI=2 PTHRUN_CUDA_PLUGIN=" + quote(PTHRUN_FAKE_PLUGIN),
       "speaks interface version 2 (a table of "},
      {"PTHRUN_CUDA_PLUGIN=" + quote(PTHRUN_PLUGIN_MISSING_DEPENDENCY),
       "libpthrun_absent_dependency.so: cannot open shared object file"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.env);
    const CliResult r = run_pthrun("generate " + quote(model) + " --prompt Hi -n 2 --device cuda", c.env);
    CHECK(r.status == 1);
    CHECK(lines(r.err) == 1);
    CHECK(r.err.starts_with("error: --device cuda: "));
    CHECK(r.err.find(c.expected) != std::string::npos);
    // The CPU does not care.
    CHECK(run_pthrun("generate " + quote(model) + " --prompt Hi -n 2 --device cpu", c.env).status == 0);
  }
}
