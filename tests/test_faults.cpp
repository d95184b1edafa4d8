// Faults, and what pthrun does about them: a checkpoint cut short while mapped, running out of
// device memory while loading and while generating, a full disk, Ctrl-C. Each ends in a clear
// error (or exit status), nothing leaked and no partial output left behind.
#include <doctest/doctest.h>

#include <filesystem>
#include <vector>

#include "loader/checkpoint.h"
#include "loader/pth_writer.h"
#include "loader/stream_loader.h"
#include "model/generate.h"
#include "model/gpt2.h"
#include "runtime/caching_allocator.h"
#include "runtime/error.h"
#include "tests/cli_runner.h"

using namespace pthrun;
using namespace pthrun::test;

namespace {

constexpr int64_t MiB = 1 << 20;

CachingAllocator& cpu_allocator() { return dynamic_cast<CachingAllocator&>(device_allocator(cpu_device)); }

// A small GPT-2 (gpt2-small's width, one block, GPT-2's vocabulary), written once per process.
const std::string& small_model() {
  static TempDir dir("faults");
  static const std::string path = [] {
    const std::string p = dir / "small.pth";
    CliResult r = run_pthrun("init --config gpt2-small --layers 1 --context 256 -o " + quote(p));
    REQUIRE_MESSAGE(r.status == 0, r.err);
    return p;
  }();
  return path;
}

ModelOptions on_cpu() {
  ModelOptions options;
  options.device = cpu_device;
  return options;
}

}  // namespace

TEST_CASE("a checkpoint truncated while mapped is an error, not a crash (SIGBUS)") {
  TempDir dir("faults");
  const std::string path = dir / "cut.pth";
  std::vector<float> values(4 * MiB / 4);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 1000);
  save_state_dict(path, {{"a", Tensor::from_vector(values, {1024, 1024})}, {"b", Tensor::from_vector(values, {1024, 1024})}});

  const Checkpoint checkpoint = Checkpoint::open(path);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 3);  // under the mapping
  std::vector<LoadRequest> requests;
  for (const TensorInfo& t : checkpoint.state_dict()) requests.push_back({t, Tensor::empty(t.shape, t.dtype, cpu_device)});
  LoadOptions options;
  CHECK_THROWS_WITH(load_tensors(checkpoint, requests, options),
                    doctest::Contains((path + ": the file was truncated while pthrun was reading it").c_str()));
  // The process goes on, and other files read as usual.
  CHECK(Checkpoint::open(small_model()).tensors().size() > 10);
}

TEST_CASE("out of memory while loading: a clean error, and the allocator back where it was") {
  CachingAllocator& allocator = cpu_allocator();
  allocator.empty_cache();
  const AllocatorStats before = allocator.stats();
  allocator.set_cap(static_cast<std::size_t>(before.reserved_bytes[all_pools].current + 64 * MiB));
  CHECK_THROWS_WITH_AS(Gpt2Model::load(small_model(), on_cpu()), doctest::Contains("out of memory on cpu: tried to allocate"),
                       OutOfMemory);
  allocator.set_cap(0);
  const AllocatorStats after = allocator.stats();
  CHECK(after.allocated_bytes[all_pools].current == before.allocated_bytes[all_pools].current);
  CHECK(after.requested_bytes[all_pools].current == before.requested_bytes[all_pools].current);
  CHECK(after.num_ooms == before.num_ooms + 1);
  allocator.empty_cache();
  CHECK(allocator.stats().reserved_bytes[all_pools].current == before.reserved_bytes[all_pools].current);
  // And the load works once the memory is there.
  CHECK(Gpt2Model::load(small_model(), on_cpu())->config().layers == 1);
}

TEST_CASE("out of memory while starting a session: a clean error, and the model still works") {
  CachingAllocator& allocator = cpu_allocator();
  const auto model = Gpt2Model::load(small_model(), on_cpu());
  const int64_t loaded = allocator.stats().allocated_bytes[all_pools].current;
  allocator.empty_cache();
  // Room for the weights and a little more: not for a KV cache of 256 positions.
  allocator.set_cap(static_cast<std::size_t>(allocator.stats().reserved_bytes[all_pools].current + 2 * MiB));
  GenerationOptions options;
  options.max_new_tokens = 200;
  CHECK_THROWS_AS(generate(model, {{464, 3290, 318}}, options), OutOfMemory);
  CHECK(allocator.stats().allocated_bytes[all_pools].current == loaded);
  allocator.set_cap(0);
  options.max_new_tokens = 5;
  CHECK(generate(model, {{464, 3290, 318}}, options).tokens[0].size() == 5);
}

TEST_CASE("the CLI: out of memory, a full disk and Ctrl-C end cleanly") {
  TempDir dir("faults");
  CliResult oom = run_pthrun("generate " + quote(small_model()) + " --tokens 1,2,3 -n 2", "PTHRUN_ALLOC_CONF=cap:16MiB");
  CHECK(oom.status == 1);
  CHECK(oom.err.rfind("error: out of memory on cpu: tried to allocate", 0) == 0);
  CHECK(oom.err.find("; cap 16.00 MiB") != std::string::npos);

  // A file-size limit stands in for a full disk: the write fails part-way.
  const std::string out = dir / "full.pth";
  CliResult full = run_pthrun("convert " + quote(small_model()) + " -o " + quote(out), "ulimit -f 2048;");
  CHECK(full.status == 1);
  CHECK(full.err == "error: cannot write " + out + ": File too large\n");
  CHECK(std::filesystem::is_empty(dir.path));  // neither the file nor its temporary

  // Ctrl-C in the middle of writing a large checkpoint: status 130, nothing left behind. The
  // signal goes once the output's temporary file exists, so it lands mid-write whatever the load.
  const std::string big = dir / "big.pth";
  const std::string script = "pthrun_ctrl_c() { \"$@\" & pid=$!; until ls " + quote(dir.path.string()) +
                             "/*.tmp-* >/dev/null 2>&1; do sleep 0.02; done; kill -INT $pid; wait $pid; }; pthrun_ctrl_c";
  CliResult interrupted = run_pthrun("init --config gpt2-medium -o " + quote(big), script);
  CHECK(interrupted.status == 130);
  CHECK(interrupted.err == "interrupted\n");
  CHECK(std::filesystem::is_empty(dir.path));
}
