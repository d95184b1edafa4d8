// The loading commands on checkpoints as people have them, run as a user runs them: a
// save_pretrained folder through generate, forward, inspect, bench and load-bench; nanoGPT's
// padded vocabulary with a text prompt; --allow-unused; the note when a preset gives the heads.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "runtime/file_util.h"
#include "runtime/json.h"
#include "tests/cli_runner.h"
#include "tests/test_util.h"

using namespace pthrun;
using namespace pthrun::test;

namespace {

JsonValue reference_of(const std::string& name) {
  return parse_json(read_file(fixture("realworld/" + name + ".ref.json")));
}

std::string id_list(const JsonValue& ids) {
  std::string out;
  for (const JsonValue& id : ids) {
    if (!out.empty()) out += ',';
    out += std::to_string(id.get<int64_t>());
  }
  return out;
}

std::vector<int64_t> as_ids(const JsonValue& ids) { return ids.get<std::vector<int64_t>>(); }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("a save_pretrained folder goes through every loading command") {
  TempDir dir("realworld-cli");
  const JsonValue ref = reference_of("hf_untied_erf");
  const std::string folder = quote(fixture("realworld/hf_untied_erf"));

  const std::string out = dir / "logits.npy";
  CliResult forward = run_pthrun("forward " + folder + " --device cpu --tokens " + id_list(ref.at("prompts")[1]) +
                                 " -o " + quote(out));
  REQUIRE_MESSAGE(forward.status == 0, forward.err);
  const auto expected = read_npy_f32(fixture("realworld/" + ref.at("logits_files")[1].get<std::string>()));
  const double error = relative_error(read_npy_f32(out).values, expected.values);
  CAPTURE(error);
  CHECK(error <= 1e-4);

  const JsonValue& greedy = ref.at("greedy");
  CliResult generate = run_pthrun("generate " + folder + " --device cpu --tokens " + id_list(greedy.at("prompt")) +
                                  " -n " + std::to_string(greedy.at("max_new_tokens").get<int64_t>()) + " --json");
  REQUIRE_MESSAGE(generate.status == 0, generate.err);
  const JsonValue result = parse_json(generate.out);
  CHECK(as_ids(result.at("results")[0].at("ids")) == as_ids(greedy.at("ids")));
  CHECK(result.at("heads").get<int64_t>() == 4);
  CHECK(contains(result.at("heads_source").get<std::string>(), "config.json"));
  CHECK(generate.err.find("note:") == std::string::npos);

  CliResult inspect = run_pthrun("inspect " + folder);
  REQUIRE_MESSAGE(inspect.status == 0, inspect.err);
  CHECK(contains(inspect.out, "format: safetensors"));
  CliResult sharded = run_pthrun("inspect " + quote(fixture("realworld/hf_sharded_bin")) + " --json");
  REQUIRE_MESSAGE(sharded.status == 0, sharded.err);
  CHECK(parse_json(sharded.out).at("format") == "sharded");

  CliResult bench = run_pthrun("bench " + folder + " --device cpu --prompt-tokens 4 --new-tokens 2 --repeat 1 --json");
  REQUIRE_MESSAGE(bench.status == 0, bench.err);
  CHECK(contains(parse_json(bench.out).at("heads_source").get<std::string>(), "config.json"));

  CliResult load_bench = run_pthrun("load-bench " + quote(fixture("realworld/hf_sharded")) + " --device cpu --json");
  REQUIRE_MESSAGE(load_bench.status == 0, load_bench.err);
  const JsonValue measured = parse_json(load_bench.out);
  CHECK(measured.at("results").size() >= 2);
  for (const JsonValue& m : measured.at("results")) CHECK(m.at("weights_bytes").get<uint64_t>() > 0);
}

TEST_CASE("nanoGPT's padded vocabulary takes a text prompt and never samples past the tokenizer") {
  const JsonValue ref = reference_of("nanogpt_padded");
  const std::string ckpt = quote(fixture("realworld/nanogpt_padded.pt"));
  CliResult r = run_pthrun("generate " + ckpt + " --device cpu --prompt 'Hello world' -n 10 --no-stop --json");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const JsonValue result = parse_json(r.out).at("results")[0];
  CHECK(as_ids(result.at("prompt_ids")) == std::vector<int64_t>{15496, 995});  // GPT-2's published ids
  CHECK(as_ids(result.at("ids")) == as_ids(ref.at("greedy").at("ids")));
  CliResult sampled =
      run_pthrun("generate " + ckpt + " --device cpu --prompt 'Hello world' -n 20 --no-stop --temperature 2 --seed 5 --json");
  REQUIRE_MESSAGE(sampled.status == 0, sampled.err);
  for (int64_t id : as_ids(parse_json(sampled.out).at("results")[0].at("ids"))) CHECK(id < 50257);
}

TEST_CASE("--allow-unused: an unknown tensor is an error naming it, or a note when allowed") {
  const std::string path = quote(fixture("realworld/hf_extra"));
  CliResult refused = run_pthrun("generate " + path + " --device cpu --tokens 1,2 -n 2");
  CHECK(refused.status == 1);
  CHECK(contains(refused.err, "unexpected transformer.extra.weight (--allow-unused ignores it)"));
  CliResult allowed = run_pthrun("generate " + path + " --device cpu --tokens 1,2 -n 2 --allow-unused");
  REQUIRE_MESSAGE(allowed.status == 0, allowed.err);
  CHECK(contains(allowed.err, "note: "));
  CHECK(contains(allowed.err, "ignored 1 unused tensor (--allow-unused): transformer.extra.weight"));
  CHECK(contains(allowed.err, "skipped 5 buffers that hold no weights"));
}

TEST_CASE("a head count from the GPT-2 preset is said on stderr and in --json") {
  TempDir dir("realworld-cli");
  const std::string path = dir / "small.pth";
  CliResult init = run_pthrun("init --config gpt2-small --layers 1 --context 8 --vocab 16 -o " + quote(path));
  REQUIRE_MESSAGE(init.status == 0, init.err);
  CliResult guessed = run_pthrun("generate " + quote(path) + " --device cpu --tokens 1,2 -n 1 --json");
  REQUIRE_MESSAGE(guessed.status == 0, guessed.err);
  CHECK(contains(guessed.err, "note: "));
  CHECK(contains(guessed.err, "12 attention heads from the GPT-2 preset for width 768"));
  CHECK(parse_json(guessed.out).at("heads_source") == "the GPT-2 preset for width 768");
  CliResult given = run_pthrun("generate " + quote(path) + " --device cpu --tokens 1,2 -n 1 --heads 12 --json");
  REQUIRE_MESSAGE(given.status == 0, given.err);
  CHECK(!contains(given.err, "attention heads from"));
  CHECK(contains(given.err, "skipped 1 buffer that holds no weights (trf_blocks.0.att.mask)"));  // the book's mask
  CHECK(parse_json(given.out).at("heads_source") == "--heads");
}

TEST_CASE("convert keeps a nanoGPT bias=False model; a config.json gives back its exact GELU") {
  TempDir dir("realworld-cli");
  const JsonValue ref = reference_of("nanogpt_nobias");
  const std::string out = dir / "converted.pth";
  CliResult convert = run_pthrun("convert " + quote(fixture("realworld/nanogpt_nobias.pt")) + " -o " + quote(out));
  REQUIRE_MESSAGE(convert.status == 0, convert.err);
  CHECK(contains(convert.err, "uses the exact (erf) GELU, which the written state dict does not record"));
  write_file_atomically(dir / "config.json", R"({"activation_function": "gelu", "n_head": 4})");
  const std::string logits = dir / "logits.npy";
  CliResult forward =
      run_pthrun("forward " + quote(out) + " --tokens " + id_list(ref.at("prompts")[1]) + " -o " + quote(logits));
  REQUIRE_MESSAGE(forward.status == 0, forward.err);
  const auto expected = read_npy_f32(fixture("realworld/" + ref.at("logits_files")[1].get<std::string>()));
  const double error = relative_error(read_npy_f32(logits).values, expected.values);
  CAPTURE(error);
  CHECK(error <= 1e-4);
}
