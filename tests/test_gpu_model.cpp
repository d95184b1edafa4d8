// GPT-2 on a CUDA device against the CPU (itself checked against PyTorch in test_model.cpp):
// f32 within 1e-4, bf16 within 2e-2 with top-1 agreement of at least 99%, greedy continuations
// equal to PyTorch's, the decode graph equal to eager decoding, no allocation in steady
// decode, and a load whose device peak is the weights. Skipped without a device.
//
// The tiny fixtures (vocabulary 96, head size 12, context 40) cannot reach what GPT-2's own
// shapes do, so a second set runs a model with gpt2-small's width (12 heads of 64), its
// vocabulary (50257: rows of the (B, V) logits buffer are only 4-byte aligned, a case for
// cuBLASLt's heuristic) and its context (1024: decode splits each sequence 11 to 44 ways rather
// than 3), in two blocks (depth changes no shape), f32, bf16 and f16, batches of 1, 2 and 4,
// against the CPU and against PyTorch; and asks cuBLASLt about every product of every GPT-2
// size, decode rows included: none may fall back to the naive kernel.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "kernels/cuda_gemm.h"
#include "kernels/matmul.h"
#include "model/config.h"
#include "model/generate.h"
#include "model/gpt2.h"
#include "model/gpt2_products.h"
#include "model/session.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/json.h"
#include "tests/cli_runner.h"
#include "tests/session_checks.h"
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

std::shared_ptr<const Gpt2Model> load_on(const Fixture& f, Device device, DType dtype = DType::f32, bool tf32 = false) {
  ModelOptions options;
  options.tf32 = tf32;
  options.device = device;
  options.dtype = dtype;
  options.heads = f.ref.at("heads").get<int64_t>();
  return Gpt2Model::load(f.weights, options);
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
  for (const std::string name : models) {
    CAPTURE(name);
    const Fixture f = fixture_model(name);
    const auto cpu = load_on(f, cpu_device), cuda = load_on(f, gpu);
    for (const JsonValue& prompt : f.ref.at("prompts")) {
      const double error = relative_error(cuda->forward(ids(prompt)).to_floats(), cpu->forward(ids(prompt)).to_floats());
      CAPTURE(error);
      CHECK(error <= 1e-4);
    }
    for (const JsonValue& g : f.ref.at("greedy")) {
      GenerationOptions options;
      options.max_new_tokens = g.at("max_new_tokens").get<int64_t>();
      CHECK(generate(cuda, {ids(g.at("prompt"))}, options).tokens[0] == ids(g.at("ids")));
    }
  }
}

TEST_CASE("CUDA on checkpoints as people have them: exact GELU, no biases, padded vocabulary, shards") {
  // tests/fixtures/make_realworld_fixtures.py: logits from the source model's own PyTorch.
  for (const std::string name : {"hf_untied_erf", "hf_sharded", "nanogpt_bias", "nanogpt_nobias", "nanogpt_padded"}) {
    CAPTURE(name);
    const JsonValue ref = parse_json(read_file(fixture("realworld/" + name + ".ref.json")));
    ModelOptions options;
    options.device = gpu;
    const auto cuda = Gpt2Model::load(fixture("realworld/" + ref.at("weights").get<std::string>()), options);
    for (std::size_t p = 0; p < ref.at("prompts").size(); ++p) {
      const auto expected = read_npy_f32(fixture("realworld/" + ref.at("logits_files")[p].get<std::string>()));
      const double error = relative_error(cuda->forward(ids(ref.at("prompts")[p])).to_floats(), expected.values);
      CAPTURE(error);
      CHECK(error <= 1e-4);
    }
    GenerationOptions options_greedy;
    options_greedy.max_new_tokens = ref.at("greedy").at("max_new_tokens").get<int64_t>();
    options_greedy.sample_vocab = name == "nanogpt_padded" ? 50257 : 0;
    CHECK(generate(cuda, {ids(ref.at("greedy").at("prompt"))}, options_greedy).tokens[0] ==
          ids(ref.at("greedy").at("ids")));
  }
}

TEST_CASE("--tf32: a model loaded with tf32 stays within 1e-2 of the CPU; one loaded without it is strict") {
  const Fixture f = fixture_model("book_qkv");
  const auto cpu = load_on(f, cpu_device), cuda = load_on(f, gpu);
  const auto cuda_tf32 = load_on(f, gpu, DType::f32, /*tf32=*/true);
  const std::vector<int32_t> prompt = ids(f.ref.at("prompts").at(0));
  const std::vector<float> reference = cpu->forward(prompt).to_floats();
  const std::vector<float> strict = cuda->forward(prompt).to_floats();
  const std::vector<float> tf32 = cuda_tf32->forward(prompt).to_floats();
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
    for (const std::string name : {"book_qkv", "hf_tied"}) {
      CAPTURE(name);
      const std::string dtype_text = dtype_name(dtype);
      CAPTURE(dtype_text);
      const Fixture f = fixture_model(name);
      const auto reference = load_on(f, cpu_device), half = load_on(f, gpu, dtype);
      int64_t agree = 0, positions = 0;
      for (int p = 0; p < 20; ++p) {
        const std::vector<int32_t> prompt = random_prompt(rng, reference->config().vocab_size, 1 + p);
        const Tensor a = reference->forward(prompt), b = half->forward(prompt);
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
      MESSAGE(name, " ", std::string(dtype_name(dtype)), ": top-1 agreement ", agree, "/", positions);
      CHECK(agree * 100 >= positions * 99);
    }
  }
}

TEST_CASE("the decode graph is captured once, replayed after, gives eager decoding's tokens, and allocates nothing") {
  const Fixture f = fixture_model("book_qkv");
  const std::vector<int32_t> prompt = ids(f.ref.at("prompts")[0]);
  GenerationOptions options;
  options.max_new_tokens = 20;
  options.sampling = {.temperature = 0.9f, .top_k = 20, .top_p = 0.95f};
  options.seed = 3;
  const auto model = load_on(f, gpu);
  const SessionOptions sized = session_options_for(*model, {prompt}, options);
  SessionOptions eager_options = sized;
  eager_options.cuda_graphs = false;
  Session eager(model, eager_options), graphed(model, sized);
  CHECK(generate(graphed, {prompt}, options).tokens == generate(eager, {prompt}, options).tokens);
  // 19 decode steps: the first eager, the second captured and replayed, then replays.
  CHECK(graphed.graph_failure() == "");
  CHECK(graphed.graph_ready());
  CHECK(graphed.graph_captures() == 1);
  CHECK(graphed.graph_replays() == 18);
  CHECK_FALSE(eager.graph_ready());
  CHECK(eager.graph_replays() == 0);

  Session steady(model, {.slots = 1, .max_tokens = 30});
  steady.prefill(0, prompt);
  std::vector<int32_t> next = steady.sample();
  steady.decode(next, {true});  // eager, then captured at the second step
  next = steady.sample();
  steady.decode(next, {true});
  const AllocatorStats before = device_allocator(gpu).stats();
  for (int step = 2; step < 12; ++step) {
    next = steady.sample();
    steady.decode(next, {true});
  }
  const AllocatorStats after = device_allocator(gpu).stats();
  CHECK(after.allocation[all_pools].allocated == before.allocation[all_pools].allocated);
  CHECK(after.num_device_alloc == before.num_device_alloc);
  CHECK(steady.graph_captures() == 1);
  CHECK(steady.graph_replays() == 11);
}

TEST_CASE("an inactive slot on the GPU is untouched by decode, as on the CPU") {
  const Fixture f = fixture_model("book_qkv");
  const auto model = load_on(f, gpu);
  // Prompts 0 and 2 (5 tokens and 1): prompt 1 fills the fixture's whole context, leaving slot 1
  // no room to decode (the first GPU run stopped on it: "slot 1 is full: 40 tokens of 40").
  const std::vector<int32_t> a = ids(f.ref.at("prompts")[0]), b = ids(f.ref.at("prompts")[2]);
  Session reference(model, {.slots = 1, .max_tokens = 40});
  reference.prefill(0, a);
  const int32_t first = reference.sample()[0];
  reference.decode(std::vector<int32_t>{first}, {true});
  const std::vector<float> expected = reference.logits().to_floats();
  Session session(model, {.slots = 2, .max_tokens = 40});
  session.prefill(0, a);
  session.prefill(1, b);
  REQUIRE(session.sample()[0] == first);
  for (int32_t junk : {1, 2, 3}) session.decode(std::vector<int32_t>{junk, 7}, {false, true});
  session.decode(std::vector<int32_t>{first, 7}, {true, true});
  // cuBLAS may round a batch of 2 differently from a batch of 1: close, not bitwise, here.
  CHECK(relative_error(session.logits().slice(0, 0, 1).to_floats(), expected) <= 1e-5);
}

TEST_CASE("sample on the GPU draws the active slots only, each as it would alone") {
  const Fixture f = fixture_model("hf_tied");
  check_sample_of_active_slots(load_on(f, gpu), {ids(f.ref.at("prompts")[0]), ids(f.ref.at("prompts")[1]),
                                                 ids(f.ref.at("prompts")[2])});
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
  const auto model = Gpt2Model::load(path, options);
  const AllocatorStats loaded = allocator.stats();
  CHECK(loaded.allocated_bytes[all_pools].peak - base == static_cast<int64_t>(model->weights().nbytes()));
  GenerationOptions generation;
  generation.max_new_tokens = 32;
  generate(model, {{464, 3290, 318, 257}}, generation);
  const AllocatorStats s = allocator.stats();
  const double ratio = static_cast<double>(s.reserved_bytes[all_pools].peak) /
                       static_cast<double>(s.allocated_bytes[all_pools].peak);
  MESSAGE("peak reserved / peak allocated over load + generate: ", ratio);
  CHECK(ratio <= 1.05);
}

namespace {

// The GPT-2-shaped model: gpt2-small's width, vocabulary and context, two blocks, random weights
// as `pthrun init` writes them (so that PyTorch can read the same file).
const std::string& gpt2_shaped_checkpoint() {
  static TempDir dir("gpu-shapes");
  static const std::string path = [] {
    const std::string p = dir / "gpt2-shaped.pth";
    const CliResult r = run_pthrun("init --config gpt2-small --layers 2 --seed 11 -o " + quote(p));
    REQUIRE_MESSAGE(r.status == 0, r.err);
    return p;
  }();
  return path;
}

std::shared_ptr<const Gpt2Model> load_shaped(Device device, DType dtype) {
  ModelOptions options;
  options.device = device;
  options.dtype = dtype;
  options.heads = 12;
  return Gpt2Model::load(gpt2_shaped_checkpoint(), options);
}

// Compares rows of logits (each V wide) from the GPU with the CPU's f32 ones. f32: the
// project's model tolerance, 1e-4 relative. bf16 and f16: 2e-2 relative, and the top-1 token
// must agree wherever the reference's margin between its best two tokens is clear: above
// 10 times the largest rms error the 2e-2 bound allows (a disagreement needs an error of half
// the margin on one of the two logits, five times that rms). Positions with a smaller margin
// say nothing about correctness and are only counted.
struct Agreement {
  int64_t clear = 0, agree = 0, total = 0;
};

void compare_logits(const std::vector<float>& gpu, const std::vector<float>& cpu, int64_t V, DType dtype,
                    const std::string& what, Agreement& agreement) {
  CAPTURE(what);
  REQUIRE(gpu.size() == cpu.size());
  const double error = relative_error(gpu, cpu);
  CAPTURE(error);
  CHECK(error <= (dtype == DType::f32 ? 1e-4 : 2e-2));
  if (dtype == DType::f32) return;
  double squares = 0;
  for (float v : cpu) squares += double(v) * v;
  const double margin_needed = 10 * 2e-2 * std::sqrt(squares / static_cast<double>(cpu.size()));
  for (std::size_t row = 0; row < cpu.size() / static_cast<std::size_t>(V); ++row) {
    const auto begin = cpu.begin() + static_cast<long>(row) * V;
    const auto best = std::max_element(begin, begin + V);
    float second = -INFINITY;
    for (auto it = begin; it != begin + V; ++it)
      if (it != best) second = std::max(second, *it);
    const auto gbegin = gpu.begin() + static_cast<long>(row) * V;
    const bool same = std::max_element(gbegin, gbegin + V) - gbegin == best - begin;
    ++agreement.total;
    if (*best - second > margin_needed) {
      ++agreement.clear;
      agreement.agree += same;
      if (!same) FAIL_CHECK(what, " row ", row, ": top-1 differs at a clear margin of ", *best - second);
    }
  }
}

void check_agreement(const Agreement& a, DType dtype) {
  MESSAGE(std::string(dtype_name(dtype)), ": top-1 agrees at ", a.agree, " of ", a.clear, " positions with a clear margin (",
          a.total, " compared)");
  // Not vacuous: random GPT-2-like weights give clear margins at roughly 40% of positions.
  CHECK(a.clear * 5 >= a.total);
}

std::vector<int32_t> random_ids(std::mt19937& rng, int64_t n) { return random_prompt(rng, 50257, n); }

}  // namespace

TEST_CASE("GPT-2 shapes: cuBLASLt has an algorithm for every product of every GPT-2 size, decode rows included") {
  constexpr int64_t rows[] = {1, 2, 3, 4, 5, 6, 7, 8, 16, 31, 64, 128, 512, 1024};
  std::size_t count = 0, checked = 0;
  const Gpt2Preset* list = presets(&count);
  for (std::size_t p = 0; p < count; ++p) {
    Gpt2Config config = preset_config(list[p]);
    for (bool qkv_bias : {true, false}) {
      config.qkv_bias = qkv_bias;
      for (DType dtype : {DType::f32, DType::bf16, DType::f16})
        for (bool tf32 : {false, true})
          for (auto layout : {kernels::WeightLayout::out_in, kernels::WeightLayout::in_out})
            for (const kernels::GemmShape& shape : gpt2_products(config, dtype, layout, rows, tf32)) {
              ++checked;
              if (kernels::gemm_path(gpu, shape) == kernels::GemmPath::naive)
                FAIL_CHECK(list[p].name, ": the naive kernel for ", shape.to_string());
            }
    }
  }
  MESSAGE(checked, " product shapes asked");
}

TEST_CASE("GPT-2 shapes: a 1024-token prefill equals the CPU's and PyTorch's logits; f32, bf16, f16") {
  kernels::reset_gemm_fallbacks();
  std::mt19937 rng(21);
  const std::vector<int32_t> prompt = random_ids(rng, 1024);
  const auto cpu = load_shaped(cpu_device, DType::f32);
  const std::vector<float> reference = cpu->forward(prompt).to_floats();
  const int64_t V = cpu->config().vocab_size;

  const auto pythons = torch_pythons();
  if (pythons.empty()) MESSAGE("no Python with torch found: the GPU was compared with the CPU only");
  for (const std::string& python : pythons) {
    CAPTURE(python);
    TempDir dir("gpu-shapes-torch");
    std::string ids;
    for (int32_t id : prompt) ids += str(ids.empty() ? "" : ",", id);
    const std::string out = dir / "torch.npy";
    const std::string command = quote(python) + " " + quote(PTHRUN_SOURCE_DIR "/tests/torch_logits.py") + " " +
                                quote(gpt2_shaped_checkpoint()) + " 12 " + ids + " " + quote(out);
    REQUIRE(std::system(command.c_str()) == 0);
    const std::vector<float> torch = read_npy_f32(out).values;
    const auto f32 = load_shaped(gpu, DType::f32);
    const double error = relative_error(f32->forward(prompt).to_floats(), torch);
    CAPTURE(error);
    CHECK(error <= 1e-4);
  }

  for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
    const std::string dtype_text = dtype_name(dtype);
    CAPTURE(dtype_text);
    const auto model = load_shaped(gpu, dtype);
    Agreement agreement;
    compare_logits(model->forward(prompt).to_floats(), reference, V, dtype, "forward of 1024 tokens", agreement);
    if (dtype != DType::f32) check_agreement(agreement, dtype);
  }
  CHECK(kernels::gemm_fallback_count() == 0);
}

TEST_CASE("GPT-2 shapes: batches of 1, 2 and 4 prefill and decode as the CPU does; f32, bf16, f16") {
  kernels::reset_gemm_fallbacks();
  const auto cpu_model = load_shaped(cpu_device, DType::f32);
  const int64_t V = cpu_model->config().vocab_size;
  // Prompt lengths per sequence: long, a single token, odd, and one that ends on a tile edge.
  const std::vector<int64_t> lengths = {700, 1, 333, 64};
  for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
    const std::string dtype_text = dtype_name(dtype);
    CAPTURE(dtype_text);
    const auto gpu_model = load_shaped(gpu, dtype);
    Agreement agreement;
    for (int64_t B : {1, 2, 4}) {
      CAPTURE(B);
      std::mt19937 rng(static_cast<unsigned>(31 + B));
      Session cpu(cpu_model, {.slots = B, .max_tokens = 1024});
      Session model(gpu_model, {.slots = B, .max_tokens = 1024});
      for (int64_t b = 0; b < B; ++b) {
        const std::vector<int32_t> prompt = random_ids(rng, lengths[static_cast<std::size_t>(b)]);
        cpu.prefill(b, prompt);
        model.prefill(b, prompt);
      }
      compare_logits(model.logits().to_floats(), cpu.logits().to_floats(), V, dtype, str("prefill, batch ", B), agreement);
      // Batch 1 decodes through the CUDA graph from its second step.
      for (int step = 0; step < 6; ++step) {
        const std::vector<int32_t> tokens = random_ids(rng, B);
        const std::vector<bool> active(static_cast<std::size_t>(B), true);
        cpu.decode(tokens, active);
        model.decode(tokens, active);
        compare_logits(model.logits().to_floats(), cpu.logits().to_floats(), V, dtype,
                       str("decode step ", step, ", batch ", B), agreement);
      }
    }
    if (dtype != DType::f32) check_agreement(agreement, dtype);
  }
  CHECK(kernels::gemm_fallback_count() == 0);
}
