// GPT-2 on the CPU against PyTorch: the fixtures' reference logits and greedy continuations were
// computed by real PyTorch and transformers (tests/fixtures/make_model_fixtures.py).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "model/generate.h"
#include "model/gpt2.h"
#include "model/session.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/json.h"
#include "tests/session_checks.h"
#include "tests/test_util.h"

using namespace pthrun;
using pthrun::test::check_sample_of_active_slots;
using pthrun::test::fixture;

namespace {

struct Reference {
  std::string name;
  std::string weights;
  JsonValue json;
  int64_t heads;
};

Reference reference(const std::string& name) {
  JsonValue json = parse_json(read_file(fixture("model/" + name + ".ref.json")));
  const std::string weights = fixture("model/" + json.at("weights").get<std::string>());
  const int64_t heads = json.at("heads").get<int64_t>();
  return {name, weights, std::move(json), heads};
}

std::vector<int32_t> ids(const JsonValue& array) {
  std::vector<int32_t> out;
  for (const JsonValue& v : array) out.push_back(static_cast<int32_t>(v.get<int64_t>()));
  return out;
}

std::shared_ptr<const Gpt2Model> load_cpu(const Reference& ref, bool pass_heads = true) {
  ModelOptions options;
  options.device = cpu_device;
  if (pass_heads) options.heads = ref.heads;
  return Gpt2Model::load(ref.weights, options);
}

const char* const all_models[] = {"book_noqkv",  "book_qkv",      "book_bf16",   "book_f16",
                                  "book_5heads", "book_orig_mod", "book_module", "book_checkpoint",
                                  "hf_tied",     "hf_buffers",    "hf_tied_safetensors"};

}  // namespace

TEST_CASE("CPU forward matches PyTorch's logits to 1e-4 relative") {
  for (const std::string name : all_models) {
    CAPTURE(name);
    const Reference ref = reference(name);
    const auto model = load_cpu(ref);
    CHECK(model->config().heads == ref.heads);
    CHECK(model->config().context == ref.json.at("context").get<int64_t>());
    CHECK(model->config().qkv_bias == ref.json.at("qkv_bias").get<bool>());
    const auto& prompts = ref.json.at("prompts");
    const auto& files = ref.json.at("logits_files");
    REQUIRE(prompts.size() == files.size());
    for (std::size_t p = 0; p < prompts.size(); ++p) {
      const auto expected = test::read_npy_f32(fixture("model/" + files[p].get<std::string>()));
      const std::vector<int32_t> tokens = ids(prompts[p]);
      Tensor logits = model->forward(tokens);
      CHECK(logits.shape() == expected.shape);
      const double error = test::relative_error(logits.to_floats(), expected.values);
      CAPTURE(p);
      CAPTURE(error);
      CHECK(error <= 1e-4);
    }
  }
}

TEST_CASE("a prefill gives PyTorch's logits of the prompt's last position, whole or in two parts") {
  // A prefill takes only its last row past the last layer's keys and values (Session's
  // run_blocks): the row and the cache it leaves must both be right, so the prompt is also
  // prefilled in two parts, the second attending to the first's cache.
  for (const std::string name : all_models) {
    CAPTURE(name);
    const Reference ref = reference(name);
    const auto model = load_cpu(ref);
    const auto& prompts = ref.json.at("prompts");
    const auto& files = ref.json.at("logits_files");
    for (std::size_t p = 0; p < prompts.size(); ++p) {
      const auto expected = test::read_npy_f32(fixture("model/" + files[p].get<std::string>()));
      const std::vector<int32_t> tokens = ids(prompts[p]);
      const auto n = static_cast<int64_t>(tokens.size());
      const int64_t V = model->config().vocab_size;
      const std::vector<float> last(expected.values.end() - V, expected.values.end());
      Session session(model, {.slots = 1, .max_tokens = n});
      session.prefill(0, tokens);
      CAPTURE(p);
      CHECK(test::relative_error(session.logits().to_floats(), last) <= 1e-4);
      if (n < 2) continue;
      const auto split = static_cast<std::ptrdiff_t>(n / 2);
      session.reset(0);
      session.prefill(0, std::vector<int32_t>(tokens.begin(), tokens.begin() + split));
      session.prefill(0, std::vector<int32_t>(tokens.begin() + split, tokens.end()));
      CHECK(test::relative_error(session.logits().to_floats(), last) <= 1e-4);
    }
  }
}

TEST_CASE("greedy continuations equal PyTorch's") {
  for (const std::string name : all_models) {
    CAPTURE(name);
    const Reference ref = reference(name);
    const auto model = load_cpu(ref);
    for (const JsonValue& g : ref.json.at("greedy")) {
      GenerationOptions options;
      options.max_new_tokens = g.at("max_new_tokens").get<int64_t>();
      GenerationResult result = generate(model, {ids(g.at("prompt"))}, options);
      CHECK(result.tokens.at(0) == ids(g.at("ids")));
    }
  }
}

TEST_CASE("KV-cache decode equals full recomputation at every step") {
  const Reference ref = reference("book_qkv");
  const auto model = load_cpu(ref);
  std::vector<int32_t> sequence = ids(ref.json.at("prompts")[0]);
  const int64_t steps = 20;
  Session session(model, {.slots = 1, .max_tokens = static_cast<int64_t>(sequence.size()) + steps});
  session.prefill(0, sequence);
  for (int64_t step = 0; step < steps; ++step) {
    const std::vector<float> incremental = session.logits().to_floats();
    Tensor full = model->forward(sequence);
    const int64_t last = full.size(0) - 1;
    const double error = test::relative_error(incremental, full.slice(0, last, last + 1).to_floats());
    CAPTURE(step);
    CHECK(error <= 1e-5);
    const int32_t next = session.sample().at(0);
    sequence.push_back(next);
    session.decode(std::vector<int32_t>{next}, {true});
  }
  CHECK(session.length(0) == static_cast<int64_t>(sequence.size()));
}

TEST_CASE("a batch of prompts gives each prompt its own continuation") {
  const Reference ref = reference("book_qkv");
  const auto model = load_cpu(ref);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::vector<int32_t>> expected;
  for (const JsonValue& g : ref.json.at("greedy")) {
    prompts.push_back(ids(g.at("prompt")));
    expected.push_back(ids(g.at("ids")));
  }
  GenerationOptions options;
  options.max_new_tokens = 12;
  GenerationResult result = generate(model, prompts, options);
  CHECK(result.tokens == expected);
}

TEST_CASE("sampling is reproducible with a seed") {
  const Reference ref = reference("hf_tied");
  const auto model = load_cpu(ref);
  GenerationOptions options;
  options.max_new_tokens = 16;
  options.sampling = {.temperature = 1.0f, .top_k = 20, .top_p = 0.9f};
  options.seed = 1234;
  const std::vector<int32_t> prompt = ids(ref.json.at("prompts")[0]);
  GenerationResult a = generate(model, {prompt}, options);
  GenerationResult b = generate(model, {prompt}, options);
  CHECK(a.tokens == b.tokens);
  CHECK(a.tokens[0].size() == 16);
  options.seed = 99;
  GenerationResult c = generate(model, {prompt}, options);
  CHECK(c.tokens != a.tokens);
}

TEST_CASE("sample draws the active slots only, each as it would alone") {
  const Reference ref = reference("hf_tied");
  check_sample_of_active_slots(load_cpu(ref), {ids(ref.json.at("prompts")[0]), ids(ref.json.at("prompts")[1]),
                                               ids(ref.json.at("prompts")[2])});
}

TEST_CASE("the context limit") {
  const Reference ref = reference("book_noqkv");  // context 32
  const auto model = load_cpu(ref);
  const std::vector<int32_t> full = ids(ref.json.at("prompts")[1]);
  REQUIRE(full.size() == 32);
  GenerationOptions options;
  options.max_new_tokens = 5;
  // A prompt that fills the context still predicts one token, then the context is full.
  GenerationResult result = generate(model, {full}, options);
  CHECK(result.tokens[0].size() == 1);
  std::vector<int32_t> shorter(full.begin(), full.begin() + 30);
  CHECK(generate(model, {shorter}, options).tokens[0].size() == 3);
  std::vector<int32_t> too_long = full;
  too_long.push_back(1);
  CHECK_THROWS_WITH(generate(model, {too_long}, options),
                    "prompt 0 has 33 tokens, more than the model's context of 32");
  CHECK_THROWS_WITH(model->forward(too_long), "33 tokens are more than the model's context of 32");
}

TEST_CASE("bad tokens and prompts are refused before any work") {
  const Reference ref = reference("book_noqkv");
  const auto model = load_cpu(ref);
  GenerationOptions options;
  CHECK_THROWS_WITH(generate(model, {{1, 96}}, options), "prompt 0: token 96 is outside the vocabulary of 96 ids");
  CHECK_THROWS_WITH(generate(model, {{-1}}, options), "prompt 0: token -1 is outside the vocabulary of 96 ids");
  CHECK_THROWS_WITH(generate(model, {{1}, {}}, options), "prompt 1 is empty");
  CHECK_THROWS_WITH(model->forward(std::vector<int32_t>{5, 200}),
                    "token 200 at position 1 is outside the vocabulary of 96 ids");
}

TEST_CASE("the head count: --heads, config.json, presets, else a clear error") {
  const Reference book = reference("book_noqkv");
  CHECK_THROWS_WITH(load_cpu(book, /*pass_heads=*/false),
                    ("cannot tell the number of attention heads of " + book.weights +
                     " (width 48): pass --heads N or put a config.json with \"n_head\" beside it")
                        .c_str());
  const Reference hf = reference("hf_tied");  // hf_tied/config.json says n_head 4
  CHECK(load_cpu(hf, /*pass_heads=*/false)->config().heads == 4);
  ModelOptions wrong;
  wrong.device = cpu_device;
  wrong.heads = 5;
  CHECK_THROWS_WITH(Gpt2Model::load(book.weights, wrong), "--heads gives 5 heads, which do not divide the width 48");
}

TEST_CASE("tied heads and ignored buffers") {
  const auto tied = load_cpu(reference("hf_tied"));
  CHECK(tied->config().tied_head);
  CHECK(tied->weights().head.storage() == tied->weights().wte.storage());
  CHECK(tied->naming() == Naming::hf);
  const auto buffers = load_cpu(reference("hf_buffers"));  // attn.bias / masked_bias are ignored
  CHECK(buffers->config().tied_head);
  const auto book = load_cpu(reference("book_qkv"));
  CHECK_FALSE(book->config().tied_head);
  CHECK(book->naming() == Naming::book);
}

TEST_CASE("steady-state decode allocates nothing") {
  const Reference ref = reference("book_qkv");
  const auto model = load_cpu(ref);
  Session session(model, {.slots = 2, .max_tokens = 30});
  session.prefill(0, ids(ref.json.at("prompts")[0]));
  session.prefill(1, ids(ref.json.at("prompts")[2]));
  std::vector<int32_t> next = session.sample();
  session.set_sampling(1, {.params = {.temperature = 0.7f, .top_k = 5}, .seed = 7});
  const int64_t allocations = device_allocator(cpu_device).stats().allocation[all_pools].allocated;
  for (uint64_t step = 1; step <= 10; ++step) {
    session.decode(next, {true, true});
    next = session.sample();
  }
  CHECK(device_allocator(cpu_device).stats().allocation[all_pools].allocated == allocations);
}
