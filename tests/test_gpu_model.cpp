// GPT-2 on a CUDA device against the CPU (itself checked against PyTorch in test_model.cpp):
// f32 within 1e-4, bf16 within 2e-2 with top-1 agreement of at least 99%, greedy continuations
// equal to PyTorch's, the decode graph equal to eager decoding, no allocation in steady
// decode, and a load whose device peak is the weights. Skipped without a device.
#include <doctest/doctest.h>

#include <random>

#include "model/generate.h"
#include "kernels/matmul.h"
#include "model/gpt2.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/json.h"
#include "tests/cli_runner.h"
#include "tests/test_util.h"

using namespace pthrun;
using namespace pthrun::test;

namespace {

const Device gpu = cuda_device(0);
const char* const models[] = {"book_noqkv", "book_qkv", "book_bf16", "book_5heads", "hf_tied", "hf_tied_safetensors"};

struct Fixture {
  std::string weights;
  JsonValue ref;
};

Fixture fixture_model(const std::string& name) {
  JsonValue ref = parse_json(read_file(fixture("model/" + name + ".ref.json")));
  return {fixture("model/" + ref.at("weights").get<std::string>()), std::move(ref)};
}

Gpt2 load_on(const Fixture& f, Device device, DType dtype = DType::f32, bool graphs = true) {
  ModelOptions options;
  options.device = device;
  options.dtype = dtype;
  options.heads = f.ref.at("heads").get<int64_t>();
  options.load.progress = false;
  options.cuda_graphs = graphs;
  return Gpt2::load(f.weights, options);
}

std::vector<int32_t> ids(const JsonValue& array) {
  std::vector<int32_t> out;
  for (const JsonValue& v : array) out.push_back(static_cast<int32_t>(v.get<int64_t>()));
  return out;
}

std::vector<int32_t> random_prompt(std::mt19937& rng, int64_t vocab, int64_t length) {
  std::vector<int32_t> out(static_cast<std::size_t>(length));
  for (int32_t& id : out) id = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return out;
}

}  // namespace

TEST_CASE("CUDA f32 forward equals the CPU's to 1e-4; greedy continuations equal PyTorch's") {
  for (const char* name : models) {
    CAPTURE(name);
    const Fixture f = fixture_model(name);
    Gpt2 cpu = load_on(f, cpu_device), cuda = load_on(f, gpu);
    for (const JsonValue& prompt : f.ref.at("prompts")) {
      const double error = relative_error(cuda.forward(ids(prompt)).to_floats(), cpu.forward(ids(prompt)).to_floats());
      CAPTURE(error);
      CHECK(error <= 1e-4);
    }
    for (const JsonValue& g : f.ref.at("greedy")) {
      GenerationOptions options;
      options.max_new_tokens = g.at("max_new_tokens").get<int64_t>();
      options.stop_at_end_of_text = false;
      CHECK(generate(cuda, {ids(g.at("prompt"))}, options).tokens[0] == ids(g.at("ids")));
    }
  }
}

TEST_CASE("--tf32: f32 products on TF32 tensor cores stay within 1e-2 of the CPU, and only when asked") {
  const Fixture f = fixture_model("book_qkv");
  Gpt2 cpu = load_on(f, cpu_device), cuda = load_on(f, gpu);
  const std::vector<int32_t> prompt = ids(f.ref.at("prompts").at(0));
  const std::vector<float> reference = cpu.forward(prompt).to_floats();
  const std::vector<float> strict = cuda.forward(prompt).to_floats();
  kernels::allow_tf32(true);
  const std::vector<float> tf32 = cuda.forward(prompt).to_floats();
  kernels::allow_tf32(false);
  // TF32 keeps 10 mantissa bits: the products differ from f32's, by far less than bf16's 7 bits do.
  const double strict_error = relative_error(strict, reference), tf32_error = relative_error(tf32, reference);
  CAPTURE(strict_error);
  CAPTURE(tf32_error);
  CHECK(strict_error <= 1e-4);
  CHECK(tf32_error > strict_error);
  CHECK(tf32_error <= 1e-2);
}

TEST_CASE("bf16 and f16 on the GPU: within 2e-2 of f32, top-1 agreement at least 99%") {
  std::mt19937 rng(5);
  for (DType dtype : {DType::bf16, DType::f16}) {
    for (const char* name : {"book_qkv", "hf_tied"}) {
      CAPTURE(name);
      CAPTURE(dtype_name(dtype));
      const Fixture f = fixture_model(name);
      Gpt2 reference = load_on(f, cpu_device), half = load_on(f, gpu, dtype);
      int64_t agree = 0, positions = 0;
      for (int p = 0; p < 20; ++p) {
        const std::vector<int32_t> prompt = random_prompt(rng, reference.config().vocab_size, 1 + p);
        const Tensor a = reference.forward(prompt), b = half.forward(prompt);
        const double error = relative_error(b.to_floats(), a.to_floats());
        CAPTURE(error);
        CHECK(error <= 2e-2);
        const std::vector<float> av = a.to_floats(), bv = b.to_floats();
        const int64_t V = a.size(1);
        for (int64_t t = 0; t < a.size(0); ++t, ++positions) {
          auto top = [&](const std::vector<float>& v) {
            return std::max_element(v.begin() + t * V, v.begin() + (t + 1) * V) - v.begin();
          };
          agree += top(av) == top(bv);
        }
      }
      MESSAGE(name, " ", dtype_name(dtype), ": top-1 agreement ", agree, "/", positions);
      CHECK(agree * 100 >= positions * 99);
    }
  }
}

TEST_CASE("the captured decode graph gives what eager decoding gives, and allocates nothing") {
  const Fixture f = fixture_model("book_qkv");
  const std::vector<int32_t> prompt = ids(f.ref.at("prompts")[0]);
  GenerationOptions options;
  options.max_new_tokens = 20;
  options.sampling = {.temperature = 0.9f, .top_k = 20, .top_p = 0.95f};
  options.seed = 3;
  options.stop_at_end_of_text = false;
  Gpt2 eager = load_on(f, gpu, DType::f32, /*graphs=*/false);
  Gpt2 graphed = load_on(f, gpu);
  CHECK(generate(graphed, {prompt}, options).tokens == generate(eager, {prompt}, options).tokens);

  graphed.start(1, 30);
  graphed.prefill(0, prompt);
  std::vector<int32_t> next = graphed.sample({}, 0, 0);
  graphed.decode(next, {true});  // eager, then captured at the second step
  next = graphed.sample({}, 0, 1);
  graphed.decode(next, {true});
  const AllocatorStats before = device_allocator(gpu).stats();
  for (uint64_t step = 2; step < 12; ++step) {
    next = graphed.sample({}, 0, step);
    graphed.decode(next, {true});
  }
  const AllocatorStats after = device_allocator(gpu).stats();
  CHECK(after.allocation[all_pools].allocated == before.allocation[all_pools].allocated);
  CHECK(after.num_device_alloc == before.num_device_alloc);
}

TEST_CASE("loading onto the GPU: the device peak is the weights, reserved within 5% of allocated") {
  TempDir dir("gpu-model");
  const std::string path = dir / "small.pth";
  REQUIRE(run_pthrun("init --config gpt2-small -o " + quote(path)).status == 0);
  Allocator& allocator = device_allocator(gpu);
  allocator.empty_cache();
  allocator.reset_peak();
  const int64_t base = allocator.stats().allocated_bytes[all_pools].current;
  ModelOptions options;
  options.device = gpu;
  options.load.progress = false;
  Gpt2 model = Gpt2::load(path, options);
  const AllocatorStats loaded = allocator.stats();
  CHECK(loaded.allocated_bytes[all_pools].peak - base == static_cast<int64_t>(model.weights().nbytes()));
  GenerationOptions generation;
  generation.max_new_tokens = 32;
  generation.stop_at_end_of_text = false;
  generate(model, {{464, 3290, 318, 257}}, generation);
  const AllocatorStats s = allocator.stats();
  const double ratio = static_cast<double>(s.reserved_bytes[all_pools].peak) /
                       static_cast<double>(s.allocated_bytes[all_pools].peak);
  MESSAGE("peak reserved / peak allocated over load + generate: ", ratio);
  CHECK(ratio <= 1.05);
}
