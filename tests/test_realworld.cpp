// Checkpoints as people have them, against the source model's own PyTorch output: Hugging
// Face save_pretrained folders (tied and untied, exact GELU, epsilon from config.json),
// sharded safetensors and .bin checkpoints, nanoGPT's train.py checkpoints (nn.Linear under
// HF's names, bias=False, torch.compile prefixes, padded vocabulary), extra tensors. The
// fixtures come from tests/fixtures/make_realworld_fixtures.py (transformers, huggingface_hub,
// nanoGPT's model code).
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "model/generate.h"
#include "model/gpt2.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/json.h"
#include "tests/test_util.h"

using namespace pthrun;
using pthrun::test::fixture;
namespace fs = std::filesystem;

namespace {

struct Reference {
  std::string name;
  JsonValue json;
};

Reference reference(const std::string& name) {
  return {name, parse_json(read_file(fixture("realworld/" + name + ".ref.json")))};
}

std::string weights_of(const Reference& ref) { return fixture("realworld/" + ref.json.at("weights").get<std::string>()); }

std::vector<int32_t> ids(const JsonValue& array) {
  std::vector<int32_t> out;
  for (const JsonValue& v : array) out.push_back(static_cast<int32_t>(v.get<int64_t>()));
  return out;
}

struct Loaded {
  std::shared_ptr<const Gpt2Model> model;
  std::vector<std::string> notes;
};

Loaded load(const std::string& path, bool allow_unused = false, bool mmap = true) {
  Loaded out;
  ModelOptions options;
  options.device = cpu_device;
  options.allow_unused = allow_unused;
  options.mmap = mmap;
  options.on_note = [&](const std::string& line) { out.notes.push_back(line); };
  out.model = Gpt2Model::load(path, options);
  return out;
}

// Logits of every prompt within 1e-4 of PyTorch's, and the greedy continuation equal to its.
void check_against_pytorch(const Reference& ref, const Gpt2Model& model, const std::shared_ptr<const Gpt2Model>& shared,
                           int64_t sample_vocab = 0) {
  const auto& prompts = ref.json.at("prompts");
  const auto& files = ref.json.at("logits_files");
  REQUIRE(prompts.size() == files.size());
  for (std::size_t p = 0; p < prompts.size(); ++p) {
    const auto expected = test::read_npy_f32(fixture("realworld/" + files[p].get<std::string>()));
    Tensor logits = model.forward(ids(prompts[p]));
    CHECK(logits.shape() == expected.shape);
    const double error = test::relative_error(logits.to_floats(), expected.values);
    CAPTURE(p);
    CAPTURE(error);
    CHECK(error <= 1e-4);
  }
  const JsonValue& g = ref.json.at("greedy");
  GenerationOptions options;
  options.max_new_tokens = g.at("max_new_tokens").get<int64_t>();
  options.sample_vocab = sample_vocab;
  CHECK(generate(shared, {ids(g.at("prompt"))}, options).tokens.at(0) == ids(g.at("ids")));
}

// A fixture folder copied, to damage.
fs::path copy_of(const std::string& folder) {
  static int copies = 0;
  const fs::path dir = fs::temp_directory_path() / str("pthrun-realworld-", ::getpid(), "-", copies++);
  fs::remove_all(dir);
  fs::copy(fixture("realworld/" + folder), dir, fs::copy_options::recursive);
  return dir;
}

std::string load_error(const std::string& path, bool allow_unused = false) {
  try {
    load(path, allow_unused);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("save_pretrained folders, shards and nanoGPT checkpoints match PyTorch without flags") {
  for (const std::string name :
       {"hf_folder", "hf_untied_erf", "hf_sharded", "hf_sharded_bin", "nanogpt_bias", "nanogpt_nobias"}) {
    CAPTURE(name);
    const Reference ref = reference(name);
    const Loaded loaded = load(weights_of(ref));
    const Gpt2Config& c = loaded.model->config();
    CHECK(c.heads == ref.json.at("n_head").get<int64_t>());
    CHECK(c.layers == ref.json.at("n_layer").get<int64_t>());
    CHECK(c.context == ref.json.at("context").get<int64_t>());
    CHECK(c.tied_head == ref.json.at("tied").get<bool>());
    const std::string activation = ref.json.at("activation").get<std::string>();
    CHECK(c.activation == (activation == "gelu" ? Activation::gelu_erf : Activation::gelu_tanh));
    if (ref.json.contains("layer_norm_epsilon"))
      CHECK(c.layernorm_eps == doctest::Approx(ref.json.at("layer_norm_epsilon").get<double>()));
    if (ref.json.contains("bias")) CHECK(c.biases == ref.json.at("bias").get<bool>());
    CHECK(!contains(c.heads_source, "preset"));
    CHECK(loaded.notes.size() == (name == "nanogpt_nobias" ? 1u : 0u));  // its mask buffers
    check_against_pytorch(ref, *loaded.model, loaded.model);
  }
}

TEST_CASE("a sharded checkpoint loads from its index file, and streams shard by shard") {
  for (const std::string index :
       {"hf_sharded/model.safetensors.index.json", "hf_sharded_bin/pytorch_model.bin.index.json"}) {
    CAPTURE(index);
    const Reference ref = reference(index.substr(0, index.find('/')));
    // Every weight comes from its shard's mapping: streamed (as many bytes read as the weights
    // hold) or, by default on the CPU, partly used in place.
    for (const bool mmap : {false, true}) {
      CAPTURE(mmap);
      const Loaded loaded = load(fixture("realworld/" + index), false, mmap);
      check_against_pytorch(ref, *loaded.model, loaded.model);
      const Gpt2Model& m = *loaded.model;
      CHECK(m.load_stats().bytes_read + m.mapped_bytes() == m.weights().nbytes());
      CHECK((m.mapped_bytes() > 0) == mmap);
    }
  }
}

TEST_CASE("one shard alone is refused, naming the index to pass instead") {
  const std::string shard = fixture("realworld/hf_sharded/model-00002-of-00003.safetensors");
  const std::string error = load_error(shard);
  CHECK(contains(error, "shard 2 of 3"));
  CHECK(contains(error, "model.safetensors.index.json"));
  const std::string bin_error = load_error(fixture("realworld/hf_sharded_bin/pytorch_model-00001-of-00003.bin"));
  CHECK(contains(bin_error, "shard 1 of 3"));
  CHECK(contains(bin_error, "pytorch_model.bin.index.json"));
}

TEST_CASE("a sharded checkpoint's index is checked against its shards") {
  const std::string index_name = "model.safetensors.index.json";
  auto with_index = [&](const std::function<void(JsonValue&)>& edit) {
    const fs::path dir = copy_of("hf_sharded");
    JsonValue index = parse_json(read_file((dir / index_name).string()));
    edit(index);
    write_file_atomically((dir / index_name).string(), index.dump());
    return dir;
  };
  SUBCASE("a shard that is not there") {
    const fs::path dir = copy_of("hf_sharded");
    fs::remove(dir / "model-00003-of-00003.safetensors");
    const std::string error = load_error(dir.string());
    CHECK(contains(error, index_name));
    CHECK(contains(error, "names shard 'model-00003-of-00003.safetensors', which is not there"));
    fs::remove_all(dir);
  }
  SUBCASE("a tensor the index puts in another shard") {
    const fs::path dir = with_index([](JsonValue& index) {
      index["weight_map"]["transformer.wte.weight"] = "model-00003-of-00003.safetensors";
    });
    const std::string error = load_error(dir.string());
    CHECK(contains(error, "weight_map entry 'transformer.wte.weight' names shard 'model-00003-of-00003.safetensors'"));
    fs::remove_all(dir);
  }
  SUBCASE("a tensor in two shards") {
    const fs::path dir = with_index([](JsonValue& index) {
      index["weight_map"]["transformer.extra"] = "copy.safetensors";
    });
    fs::copy_file(dir / "model-00001-of-00003.safetensors", dir / "copy.safetensors");
    const std::string error = load_error(dir.string());
    CHECK(contains(error, "is in two shards"));
    fs::remove_all(dir);
  }
  SUBCASE("a shard name that leaves the folder") {
    const fs::path dir = with_index([](JsonValue& index) {
      index["weight_map"]["transformer.wte.weight"] = "../model-00001-of-00003.safetensors";
    });
    const std::string error = load_error(dir.string());
    CHECK(contains(error, "is not a file name beside the index"));
    fs::remove_all(dir);
  }
}

TEST_CASE("config.json must agree with the shapes, and names its field") {
  const fs::path dir = copy_of("hf_folder");
  JsonValue config = parse_json(read_file((dir / "config.json").string()));
  config["n_layer"] = 3;
  write_file_atomically((dir / "config.json").string(), config.dump());
  const std::string error = load_error(dir.string());
  CHECK(contains(error, "config.json: n_layer is 3, but the state dict has blocks: 2"));
  config["n_layer"] = 2;
  config["activation_function"] = "relu";
  write_file_atomically((dir / "config.json").string(), config.dump());
  CHECK(contains(load_error(dir.string()), "\"activation_function\": expected gelu_new"));
  fs::remove_all(dir);
}

TEST_CASE("extra tensors: known buffers skipped with a note, others an error unless allowed") {
  const Reference ref = reference("hf_extra");
  const std::string path = weights_of(ref);
  const std::string error = load_error(path);
  CHECK(contains(error, "unexpected transformer.extra.weight (--allow-unused ignores it)"));
  CHECK(!contains(error, "position_ids"));
  CHECK(!contains(error, "masked_bias"));
  const Loaded loaded = load(path, /*allow_unused=*/true);
  REQUIRE(loaded.notes.size() == 2);
  CHECK(contains(loaded.notes[0], "skipped 5 buffers that hold no weights"));
  CHECK(contains(loaded.notes[1], "ignored 1 unused tensor (--allow-unused): transformer.extra.weight"));
  check_against_pytorch(ref, *loaded.model, loaded.model);
}

TEST_CASE("nanoGPT's padded vocabulary: ids beyond the tokenizer's are never sampled") {
  const Reference ref = reference("nanogpt_padded");
  const Loaded loaded = load(weights_of(ref));
  CHECK(loaded.model->config().vocab_size == 50304);
  check_against_pytorch(ref, *loaded.model, loaded.model, /*sample_vocab=*/50257);
  const std::vector<int32_t> prompt = ids(ref.json.at("greedy").at("prompt"));
  // The fixture's padding rows win every step when nothing masks them: the check can fail.
  GenerationOptions unmasked;
  unmasked.max_new_tokens = 3;
  const GenerationResult greedy = generate(loaded.model, {prompt}, unmasked);
  for (int32_t id : greedy.tokens.at(0)) CHECK(id >= 50257);
  GenerationOptions sampled;
  sampled.max_new_tokens = 10;
  sampled.sample_vocab = 50257;
  sampled.sampling = {.temperature = 2.0f};
  for (uint64_t seed = 0; seed < 20; ++seed) {
    sampled.seed = seed;
    const GenerationResult result = generate(loaded.model, {prompt}, sampled);
    for (int32_t id : result.tokens.at(0)) CHECK(id < 50257);
  }
}
