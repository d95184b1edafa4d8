// bf16, f16 and int8 weights on the CPU (note [CPU weight dtypes] in model/gpt2.h), and the
// streaming int8 load's memory bound.
//
// The logits check removes the format's own rounding from the comparison: the checkpoint's
// matrices are first rounded to the format (bf16/f16: round to nearest even; int8: quantized
// and dequantized with the model's groups) and saved in f32. Loaded in the format, those
// values are represented exactly, so the reduced-precision model must give the logits of the
// f32 model on the rounded checkpoint to the f32 tolerance (1e-4 relative): any error of
// storage, layout, scales, kernels or head handling shows, none is hidden by a tolerance
// sized to the format. The same models on the original checkpoint then show the format's
// effect: f16 (11 significant bits) must come closer to f32 than bf16 (8 bits).
#include <doctest/doctest.h>
#include <malloc.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kernels/linear_weight.h"
#include "loader/pth_writer.h"
#include "model/export.h"
#include "model/gpt2.h"
#include "model/session.h"
#include "runtime/allocator.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/host_memory.h"
#include "runtime/json.h"
#include "tests/cli_runner.h"
#include "tests/test_util.h"

using namespace pthrun;
using pthrun::test::fixture;
using kernels::WeightLayout;

namespace {

struct Fixture {
  std::string weights;
  int64_t heads;
  std::vector<std::vector<int32_t>> prompts;
};

Fixture read_fixture(const std::string& name) {
  const JsonValue json = parse_json(read_file(fixture("model/" + name + ".ref.json")));
  Fixture f{fixture("model/" + json.at("weights").get<std::string>()), json.at("heads").get<int64_t>(), {}};
  for (const JsonValue& prompt : json.at("prompts")) {
    std::vector<int32_t> ids;
    for (const JsonValue& id : prompt) ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
    f.prompts.push_back(std::move(ids));
  }
  return f;
}

std::shared_ptr<const Gpt2Model> load(const std::string& path, int64_t heads, DType dtype,
                                      std::optional<DType> kv_dtype = std::nullopt) {
  ModelOptions options;
  options.device = cpu_device;
  options.dtype = dtype;
  options.heads = heads;
  options.kv_dtype = kv_dtype;
  return Gpt2Model::load(path, options);
}

// `t` with its values rounded to `dtype` as the model stores them, in f32 and in t's layout.
Tensor rounded(const Tensor& t, DType dtype, WeightLayout layout) {
  if (dtype != DType::i8) return t.to(dtype).to(DType::f32);
  const Tensor q = kernels::dequantize(kernels::quantize_int8({t.contiguous(), layout, Tensor(), 0}, kInt8Group));  // (O, I)
  return layout == WeightLayout::out_in ? q : q.transpose(0, 1).contiguous();
}

bool contains(const std::string& name, std::initializer_list<const char*> parts) {
  for (const char* p : parts)
    if (name.find(p) != std::string::npos) return true;
  return false;
}

// The model's checkpoint with every matrix the format stores (block matrices, embedding/head)
// rounded to it, saved in f32 to `path`. Tied tensors stay tied.
void write_rounded(const Gpt2Model& model, DType dtype, const std::string& path) {
  const WeightLayout block_layout = matrix_layout_of(model.naming());
  std::map<const void*, Tensor> done;  // by storage: a tied head is rounded once
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& [name, t] : export_state_dict(model.weights(), model.config(), model.naming(), DType::f32)) {
    const bool matrix = t.dim() == 2 && !contains(name, {"pos_emb", "wpe", "mask"});
    if (!matrix) {
      out.emplace_back(name, t);
      continue;
    }
    auto it = done.find(t.storage().get());
    if (it == done.end()) {
      const bool embedding = contains(name, {"tok_emb", "wte", "out_head", "lm_head"});
      it = done.emplace(t.storage().get(), rounded(t, dtype, embedding ? WeightLayout::out_in : block_layout)).first;
    }
    out.emplace_back(name, it->second);
  }
  save_state_dict(path, out);
}

double logits_error(const Gpt2Model& a, const Gpt2Model& b, const std::vector<int32_t>& prompt) {
  return test::relative_error(a.forward(prompt).to_floats(), b.forward(prompt).to_floats());
}

const char* const kFixtures[] = {"book_checkpoint", "hf_tied_safetensors"};  // [out, in] untied; [in, out] tied

}  // namespace

TEST_CASE("bf16, f16 and int8 CPU weights give the f32 model's logits on weights rounded to the format") {
  test::TempDir dir("cpu-dtypes");
  for (const std::string name : kFixtures) {
    const Fixture f = read_fixture(name);
    const auto original = load(f.weights, f.heads, DType::f32);
    for (const DType dtype : {DType::bf16, DType::f16, DType::i8}) {
      CAPTURE(name);
      const std::string dtype_label = dtype_name(dtype);
      CAPTURE(dtype_label);
      const std::string path = dir / (name + "_" + dtype_short_name(dtype) + ".pth");
      write_rounded(*original, dtype, path);
      const auto reference = load(path, f.heads, DType::f32);
      // The weights alone: the cache in f32 as the reference's (the 16-bit cache has a test of
      // its own below).
      const auto model = load(path, f.heads, dtype, DType::f32);
      // Matrices and head in the format, the rest in f32.
      const Gpt2Weights& w = model->weights();
      CHECK(w.layers[0].qkv_w.dtype() == dtype);
      CHECK(w.layers[0].fc_proj_w.dtype() == dtype);
      CHECK(w.head.dtype() == dtype);
      CHECK(w.wte.dtype() == DType::f32);
      CHECK(w.layers[0].ln1_w.dtype() == DType::f32);
      CHECK(w.layers[0].qkv_s.defined() == (dtype == DType::i8));
      // Converted (from the f32 file) and quantized matrices are stored [out, in] whatever the
      // file's layout: the CPU's 16-bit and int8 products stream weight rows.
      CHECK(w.matrix_layout == WeightLayout::out_in);
      CHECK(model->activation_dtype() == DType::f32);
      for (const std::vector<int32_t>& prompt : f.prompts) {
        const double error = logits_error(*model, *reference, prompt);
        CAPTURE(error);
        CHECK(error <= 1e-4);
      }
    }
  }
}

TEST_CASE("a 16-bit KV cache gives PyTorch's logits with keys and values rounded to it, in prefill and decode") {
  // tests/fixtures/kv_cache: the book's GPTModel in PyTorch with W_key's and W_value's outputs
  // rounded to the cache's dtype; the f32 weights here, so that only the cache is rounded.
  for (const std::string name : {"book_noqkv", "book_qkv"}) {
    for (const DType kv : {DType::f16, DType::bf16}) {
      const std::string stem = str(name, ".kv_", dtype_short_name(kv));
      CAPTURE(stem);
      const JsonValue ref = parse_json(read_file(fixture("kv_cache/" + stem + ".ref.json")));
      const auto model = load(fixture("model/" + ref.at("weights").get<std::string>()), ref.at("heads").get<int64_t>(),
                              DType::f32, kv);
      REQUIRE(model->kv_dtype() == kv);
      std::vector<std::vector<int32_t>> prompts;
      for (const JsonValue& prompt : ref.at("prompts")) {
        prompts.emplace_back();
        for (const JsonValue& id : prompt) prompts.back().push_back(static_cast<int32_t>(id.get<int64_t>()));
      }
      for (std::size_t i = 0; i < prompts.size(); ++i) {
        const std::vector<float> expected =
            test::read_npy_f32(fixture("kv_cache/" + ref.at("logits_files").at(i).get<std::string>())).values;
        // Prefill: every position at once (attention_prefill over the rounded cache).
        const double prefill_error = test::relative_error(model->forward(prompts[i]).to_floats(), expected);
        CAPTURE(prefill_error);
        CHECK(prefill_error <= 1e-4);
        // Decode: the first token prefilled, each next one a decode step reading the cache.
        Session session(model, {.slots = 1});
        session.prefill(0, std::span(prompts[i]).first(1));
        const int64_t V = model->config().vocab_size;
        std::vector<float> decoded = session.logits().select(0, 0).to_floats();
        for (std::size_t t = 1; t < prompts[i].size(); ++t) {
          session.decode(std::span(prompts[i]).subspan(t, 1), {true});
          const std::vector<float> row = session.logits().select(0, 0).to_floats();
          decoded.insert(decoded.end(), row.begin(), row.end());
        }
        REQUIRE(decoded.size() == expected.size());
        const double decode_error = test::relative_error(decoded, expected);
        CAPTURE(decode_error);
        CHECK(decode_error <= 1e-4);
        CHECK(static_cast<int64_t>(decoded.size()) == V * static_cast<int64_t>(prompts[i].size()));
      }
      // Greedy continuations, token for token.
      for (const JsonValue& run : ref.at("greedy")) {
        std::vector<int32_t> prompt, expected;
        for (const JsonValue& id : run.at("prompt")) prompt.push_back(static_cast<int32_t>(id.get<int64_t>()));
        for (const JsonValue& id : run.at("ids")) expected.push_back(static_cast<int32_t>(id.get<int64_t>()));
        Session session(model, {.slots = 1});
        session.prefill(0, prompt);
        std::vector<int32_t> ids;
        while (ids.size() < expected.size()) {
          ids.push_back(session.sample()[0]);
          if (ids.size() < expected.size()) session.decode(std::span(ids).last(1), {true});
        }
        CHECK(ids == expected);
      }
    }
  }
}

TEST_CASE("the KV cache's dtype: f16 by default for reduced-precision CPU weights, f32 for f32; checked") {
  const Fixture f = read_fixture("book_checkpoint");
  CHECK(load(f.weights, f.heads, DType::f32)->kv_dtype() == DType::f32);
  for (const DType dtype : {DType::bf16, DType::f16, DType::i8}) CHECK(load(f.weights, f.heads, dtype)->kv_dtype() == DType::f16);
  CHECK(load(f.weights, f.heads, DType::i8, DType::bf16)->kv_dtype() == DType::bf16);
  CHECK_THROWS_WITH(load(f.weights, f.heads, DType::f32, DType::i8), "--kv-dtype i8: expected f32, bf16 or f16");
  // The f32 model's logits move with a 16-bit cache, by about the cache's precision.
  const auto f32 = load(f.weights, f.heads, DType::f32);
  const double f16_error = logits_error(*load(f.weights, f.heads, DType::f32, DType::f16), *f32, f.prompts[1]);
  const double bf16_error = logits_error(*load(f.weights, f.heads, DType::f32, DType::bf16), *f32, f.prompts[1]);
  CAPTURE(f16_error);
  CAPTURE(bf16_error);
  CHECK(f16_error > 1e-6);
  CHECK(f16_error < bf16_error);
}

TEST_CASE("on the original weights, f16 stays closer to f32 than bf16, and every format differs from f32") {
  for (const std::string name : kFixtures) {
    CAPTURE(name);
    const Fixture f = read_fixture(name);
    const auto f32 = load(f.weights, f.heads, DType::f32);
    std::map<DType, double> error;
    for (const DType dtype : {DType::bf16, DType::f16, DType::i8}) {
      const auto model = load(f.weights, f.heads, dtype);
      for (const std::vector<int32_t>& prompt : f.prompts) error[dtype] = std::max(error[dtype], logits_error(*model, *f32, prompt));
      MESSAGE(name, " ", std::string(dtype_name(dtype)), ": logits relative error vs f32 ", error[dtype]);
      CHECK(error[dtype] > 1e-6);  // the format is really applied: above f32's own noise
    }
    CHECK(error[DType::f16] < error[DType::bf16]);
  }
}

TEST_CASE("an int8 load quantizes while streaming: no f32 copy of the matrices at any time") {
  // A GPT-2-like checkpoint of 170 MB of f32 matrices (6 layers of width 768, 4096 ids), written
  // and freed before anything is measured.
  test::TempDir dir("int8-memory");
  const std::string path = dir / "model.pth";
  const Gpt2Config config{.vocab_size = 4096, .context = 128, .channels = 768, .layers = 6, .heads = 12,
                          .qkv_bias = true, .tied_head = true};
  int64_t f32_matrix_bytes = 0;
  {
    ModelOptions options;
    options.device = cpu_device;
    const auto model = Gpt2Model::create_random(config, options, 7);
    for (const Gpt2LayerWeights& l : model->weights().layers)
      for (const Tensor* m : {&l.qkv_w, &l.proj_w, &l.fc_w, &l.fc_proj_w}) f32_matrix_bytes += static_cast<int64_t>(m->nbytes());
    save_state_dict(path, export_state_dict(model->weights(), config, Naming::hf, DType::f32));
  }
  Allocator& allocator = device_allocator(cpu_device);
  allocator.empty_cache();
  ::malloc_trim(0);
  const HostMemory baseline = host_memory();
  int64_t anon_growth = 0, weight_bytes = 0;
  {
    HostMemorySampler sampler;
    const auto model = load(path, 12, DType::i8);
    weight_bytes = static_cast<int64_t>(model->weights().nbytes());
    anon_growth = static_cast<int64_t>(sampler.peak().anon_rss) - static_cast<int64_t>(baseline.anon_rss);
  }
  MESSAGE("f32 matrices ", f32_matrix_bytes, " B; int8 model ", weight_bytes, " B; anonymous RSS growth ", anon_growth,
          " B");
  // The weights themselves, the loader's bounded buffers (a sink's chunk of 1 MiB, one group
  // of f32 rows at a time) and room for everything else (the pickle's metadata, the
  // allocator's rounding, and under AddressSanitizer its quarantine of freed buffers).
  CHECK(anon_growth <= weight_bytes + (int64_t(24) << 20));
  CHECK(anon_growth < f32_matrix_bytes / 2);
}
