// The model commands run as a user runs them: init, convert, forward, generate, bench,
// alloc-report, load-bench, alloc-compare, stream-bench. Files written by pthrun are read back by pthrun and, where a Python with
// torch is installed, by PyTorch.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "loader/pickle.h"
#include "model/tokenizer.h"
#include "runtime/json.h"
#include "runtime/utf8.h"
#include "tests/cli_runner.h"
#include "tests/test_util.h"

using namespace pthrun;
using namespace pthrun::test;

namespace {

const char* const kIds = "6109,3626,6100,345,13,383";

// A small GPT-2 with the real tokenizer's vocabulary: gpt2-small's width, one block.
std::string init_small(const TempDir& dir, const std::string& extra = "", const std::string& name = "small.pth") {
  const std::string path = dir / name;
  CliResult r = run_pthrun("init --config gpt2-small --layers 1 --context 64 " + extra + " -o " + quote(path));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  return path;
}

std::vector<float> logits_of(const TempDir& dir, const std::string& checkpoint, const std::string& options = "") {
  const std::string out = dir / "logits.npy";
  CliResult r = run_pthrun("forward " + quote(checkpoint) + " --tokens " + kIds + " " + options + " -o " + quote(out));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  return read_npy_f32(out).values;
}

}  // namespace

TEST_CASE("init writes a checkpoint that PyTorch loads strictly into the book's GPTModel") {
  TempDir dir("cli-model");
  const std::string path = init_small(dir);
  const std::vector<float> ours = logits_of(dir, path);
  CHECK(ours.size() == 6u * 50257u);
  const auto pythons = torch_pythons();
  if (pythons.empty()) MESSAGE("no Python with torch found: the file was not read back by PyTorch");
  for (const std::string& python : pythons) {
    CAPTURE(python);
    const std::string out = dir / "torch.npy";
    const std::string command = quote(python) + " " + quote(PTHRUN_SOURCE_DIR "/tests/torch_logits.py") + " " +
                                quote(path) + " 12 " + kIds + " " + quote(out);
    REQUIRE(std::system(command.c_str()) == 0);
    const double error = relative_error(ours, read_npy_f32(out).values);
    CAPTURE(error);
    CHECK(error <= 1e-5);
  }
}

TEST_CASE("convert: naming, dtype and per-tensor folders keep the model's logits") {
  TempDir dir("cli-model");
  const std::string book = init_small(dir);
  const std::vector<float> reference = logits_of(dir, book);

  CHECK(run_pthrun("convert " + quote(book) + " --naming hf -o " + quote(dir / "hf.bin")).status == 0);
  CHECK(relative_error(logits_of(dir, dir / "hf.bin"), reference) == 0.0);
  CHECK(run_pthrun("convert " + quote(dir / "hf.bin") + " --naming book -o " + quote(dir / "back.pth")).status == 0);
  CHECK(relative_error(logits_of(dir, dir / "back.pth"), reference) == 0.0);
  CHECK(run_pthrun("convert " + quote(book) + " --per-tensor -o " + quote(dir / "folder")).status == 0);
  CHECK(fs::is_regular_file(dir.path / "folder" / "trf_blocks.0.att.W_query.weight.pth"));
  CHECK(relative_error(logits_of(dir, dir / "folder"), reference) == 0.0);
  // TF32 concerns GPU products only: on the CPU the option changes nothing.
  CHECK(relative_error(logits_of(dir, book, "--tf32"), reference) == 0.0);

  // bf16 weights cost precision: ||ours - ref|| / ||ref|| stays within 2e-2.
  CHECK(run_pthrun("convert " + quote(book) + " --dtype bf16 -o " + quote(dir / "bf16.pth")).status == 0);
  const double error = relative_error(logits_of(dir, dir / "bf16.pth"), reference);
  CAPTURE(error);
  CHECK(error > 0);
  CHECK(error <= 2e-2);
  CliResult inspect = run_pthrun("inspect " + quote(dir / "bf16.pth") + " --json");
  REQUIRE(inspect.status == 0);
  CHECK(parse_json(inspect.out).at("tensors").at(0).at("dtype").get<std::string>() == "bfloat16");
}

TEST_CASE("generate: text in, text out; ids and JSON; greedy is deterministic, seeds reproduce") {
  TempDir dir("cli-model");
  const std::string path = init_small(dir);
  CliResult a = run_pthrun("generate " + quote(path) + " --prompt 'Every effort moves you' -n 8");
  REQUIRE_MESSAGE(a.status == 0, a.err);
  CHECK(!a.out.empty());
  CHECK(a.err.find("prefill: 4 tokens") != std::string::npos);
  CHECK(a.err.find("ms/token (cpu, f32)") != std::string::npos);
  CliResult b = run_pthrun("generate " + quote(path) + " --prompt 'Every effort moves you' -n 8");
  CHECK(a.out == b.out);

  CliResult json = run_pthrun("generate " + quote(path) + " --tokens 6109,3626,6100,345 -n 5 --json "
                              "--temperature 0.9 --top-k 50 --top-p 0.95 --seed 7");
  REQUIRE_MESSAGE(json.status == 0, json.err);
  const JsonValue doc = parse_json(json.out);
  const JsonValue& result = doc.at("results").at(0);
  CHECK(result.at("ids").size() == 5);
  CHECK(result.at("prompt_ids").size() == 4);
  CHECK(result.at("text").is_string());
  CHECK(doc.at("decode_ms_per_token").get<double>() > 0);
  CliResult again = run_pthrun("generate " + quote(path) + " --tokens 6109,3626,6100,345 -n 5 --json "
                               "--temperature 0.9 --top-k 50 --top-p 0.95 --seed 7");
  CHECK(parse_json(again.out).at("results").at(0).at("ids").is_array());
  CHECK(again.out.substr(0, again.out.find("prefill")) == json.out.substr(0, json.out.find("prefill")));

  CliResult batch = run_pthrun("generate " + quote(path) + " --prompt 'Hello' --prompt 'The year 2024' -n 3");
  REQUIRE(batch.status == 0);
  CHECK(batch.out.find("--- prompt 0") != std::string::npos);
  CHECK(batch.out.find("--- prompt 1") != std::string::npos);
}

// Whether `bytes` is valid UTF-8 (runtime/utf8.h's sequence rule, applied to the whole).
bool valid_utf8(std::string_view bytes) {
  while (!bytes.empty()) {
    const std::size_t n = utf8_sequence_length(bytes);
    if (n == 0) return false;
    bytes.remove_prefix(n);
  }
  return true;
}

TEST_CASE("generate prints valid UTF-8 although tokens end inside characters") {
  TempDir dir("cli-model");
  // Sampling at a high temperature from random weights picks tokens nearly uniformly, and 344 of
  // GPT-2's 50257 tokens are not UTF-8 on their own (single bytes, pieces of characters).
  CliResult init = run_pthrun("init --config gpt2-small --layers 1 --context 512 --seed 1 -o " + quote(dir / "m.pth"));
  REQUIRE_MESSAGE(init.status == 0, init.err);
  const std::string generate = "generate " + quote(dir / "m.pth") + " --temperature 100 --seed 2 --no-stop -n 400 --prompt a";
  CliResult ids = run_pthrun(generate + " --json");
  REQUIRE_MESSAGE(ids.status == 0, ids.err);
  const Tokenizer tokenizer = Tokenizer::load_default();
  int broken = 0;
  const JsonValue doc = parse_json(ids.out);
  for (const JsonValue& id : doc.at("results").at(0).at("ids"))
    broken += !valid_utf8(tokenizer.token_bytes(id.get<int32_t>()));
  CHECK(broken > 0);  // the case is exercised

  CliResult streamed = run_pthrun(generate);  // one prompt: printed as it is made
  REQUIRE_MESSAGE(streamed.status == 0, streamed.err);
  CHECK(valid_utf8(streamed.out));
  CliResult batch = run_pthrun(generate + " --prompt b");  // printed at the end
  REQUIRE_MESSAGE(batch.status == 0, batch.err);
  CHECK(valid_utf8(batch.out));
  // The first prompt of a batch samples what it samples alone: the same text either way.
  const std::string first = batch.out.substr(0, batch.out.find("--- prompt 1"));
  CHECK(first == "--- prompt 0\n" + streamed.out);
}

TEST_CASE("generate --alloc-trace records the allocator, alloc-report charts it") {
  TempDir dir("cli-model");
  const std::string path = init_small(dir);
  const std::string trace = dir / "trace.json";
  CliResult r = run_pthrun("generate " + quote(path) + " --tokens 1,2,3 -n 4 --alloc-trace " + quote(trace));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CliResult report = run_pthrun("alloc-report " + quote(trace) + " -o " + quote(dir / "report.svg"));
  REQUIRE_MESSAGE(report.status == 0, report.err);
  CHECK(report.out.find("peak reserved/allocated") != std::string::npos);
  const std::string svg = read_file(dir / "report.svg");
  // Loading into CPU weights allocates nothing more, so there is no "load" scope here.
  for (std::string scope : {"weights", "activations", "kv_cache", "workspace"}) {
    CAPTURE(scope);
    CHECK(svg.find(">" + scope + " (") != std::string::npos);
    CHECK(report.out.find("    " + scope + " ") != std::string::npos);
  }
}

TEST_CASE("alloc-report --snapshot writes what PyTorch's memory visualizer reads") {
  TempDir dir("cli-model");
  const std::string path = init_small(dir);
  const std::string trace = dir / "trace.json", snapshot = dir / "snapshot.pickle";
  REQUIRE(run_pthrun("generate " + quote(path) + " --tokens 1,2,3 -n 4 --alloc-trace " + quote(trace)).status == 0);
  CliResult r = run_pthrun("alloc-report " + quote(trace) + " --snapshot " + quote(snapshot));
  REQUIRE_MESSAGE(r.status == 0, r.err);

  // The structure, read back by pthrun's unpickler: every segment's blocks tile it.
  const std::string bytes = read_file(snapshot);
  const Value root = unpickle({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, snapshot,
                              PersistentIds::none)
                         .root;
  const JsonValue trace_json = parse_json(read_file(trace));
  const auto& segments = root.find("segments")->items();
  CHECK(segments.size() == trace_json.at("snapshot").at("segments").size());
  for (const Value& segment : segments) {
    int64_t sum = 0;
    for (const Value& block : segment.find("blocks")->items()) sum += block.find("size")->as_int();
    CHECK(sum == segment.find("total_size")->as_int());
  }
  const auto& events = root.find("device_traces")->items().at(0).items();
  CHECK(events.size() >= trace_json.at("events").size());
  CHECK(events.at(0).find("action")->as_string() == "segment_alloc");

  // And by PyTorch's own visualizer code, where torch >= 2.1 is installed.
  bool checked = false;
  for (const std::string& python : torch_pythons()) {
    const int status = std::system((quote(python) + " " + quote(PTHRUN_SOURCE_DIR "/tests/check_memory_viz.py") +
                                    " " + quote(snapshot) + " > /dev/null").c_str());
    CHECK((WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 3));
    checked = checked || WEXITSTATUS(status) == 0;
  }
  if (!checked) MESSAGE("no torch >= 2.1 found: the snapshot was not read by PyTorch's memory visualizer");
}

TEST_CASE("bench prints its figures") {
  TempDir dir("cli-model");
  const std::string path = init_small(dir);
  CliResult r = run_pthrun("bench " + quote(path) + " --prompt-tokens 8 --new-tokens 4 --repeat 2 --json");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const JsonValue doc = parse_json(r.out);
  CHECK(doc.at("prefill_tokens_per_second").get<double>() > 0);
  CHECK(doc.at("decode_ms_per_token").get<double>() > 0);
  CHECK(doc.at("peak_reserved_bytes").get<int64_t>() >= doc.at("peak_allocated_bytes").get<int64_t>());
}

TEST_CASE("kernel-bench --row-invariant: the chain with every product row by row; refused for a GPU") {
  CliResult r = run_pthrun("kernel-bench --device cpu --chain --row-invariant --tokens 4 --repeats 1 --json");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const JsonValue doc = parse_json(r.out);
  CHECK(doc.at("row_invariant").get<bool>());
  std::vector<std::string> kernels;
  for (const JsonValue& row : doc.at("rows")) kernels.push_back(row.at("kernel").get<std::string>());
  CHECK(kernels == std::vector<std::string>{"forward", "prefill", "decode"});

  r = run_pthrun("kernel-bench --device cuda --chain --row-invariant");
  CHECK(r.status == 1);
  CHECK(r.err == "error: --row-invariant: only the CPU's products compute a row as alone; cuBLAS picks its algorithm "
                 "by shape\n");
}

TEST_CASE("load-bench: seven strategies in child processes, with the peaks each must have") {
  TempDir dir("cli-model");
  const std::string path = init_small(dir);
  CliResult r = run_pthrun("load-bench " + quote(path) + " --device cpu --json --svg " + quote(dir / "load.svg"));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const JsonValue doc = parse_json(r.out);
  const auto& results = doc.at("results");
  REQUIRE(results.size() == 7);
  const int64_t weights = results.at(0).at("weights_bytes").get<int64_t>();
  const int64_t largest = 50257 * 768 * 4;  // tok_emb, also the largest temporary a strategy makes
  const int64_t state_dict = weights + 64 * 64 * 4;  // + the block's att.mask, which the model ignores
  auto peak = [&](std::size_t i, const char* strategy) {
    CHECK(results.at(i).at("strategy").get<std::string>() == strategy);
    CHECK(results.at(i).at("seconds").get<double>() > 0);
    return results.at(i).at("device_peak_allocated").get<int64_t>();
  };
  // On the CPU "device" memory is host memory: a state dict held in RAM counts as well.
  CHECK(peak(0, "naive") == weights + state_dict);          // model + state dict on the device
  CHECK(peak(1, "sequential") == weights + state_dict + largest);  // + one tensor's .to(device)
  CHECK(peak(2, "meta") == weights + state_dict);
  CHECK(peak(3, "mmap") == 0);                              // assign=True: views of the mapping
  CHECK(peak(4, "per_tensor") == weights + largest);
  CHECK(peak(5, "pthrun") == weights);                      // the weights, and nothing else
  // Zero-copy: the buffers are allocated, swapped for views of the mapping before any byte
  // is written, and given back; what stays resident is the file's pages, not anonymous memory.
  CHECK(peak(6, "pthrun_mmap") == weights);
  const auto anon = [&](std::size_t i) { return results.at(i).at("host_peak_anon").get<int64_t>(); };
  // Anonymous memory as small as PyTorch's mmap + assign=True strategy's (the process's own,
  // which sanitizer builds make larger, and under ASan the shadow of the swapped buffers).
  CHECK(anon(6) < anon(3) + weights / 4);
  CHECK(anon(5) > anon(6) + weights / 2);
  CHECK(read_file(dir / "load.svg").rfind("<svg", 0) == 0);
}

TEST_CASE("alloc-compare: one workload under each allocator") {
  TempDir dir("cli-model");
  const std::string path = init_small(dir);
  CliResult r = run_pthrun("alloc-compare " + quote(path) + " --device cpu --prompt-tokens 8 --new-tokens 4");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  std::map<std::string, std::vector<std::string>> rows;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::vector<std::string> row;
    for (std::string word; words >> word;) row.push_back(word);
    if (!row.empty()) rows[row[0]] = row;
  }
  // allocator, peak alloc (value, unit), peak reserved (value, unit), res/alloc, requests, dev allocs
  REQUIRE(rows["caching"].size() >= 8);
  REQUIRE(rows["no-caching"].size() >= 8);
  CHECK(rows["caching"][1] == rows["no-caching"][1]);  // the same workload allocates the same
  CHECK(rows["caching"][6] == rows["no-caching"][6]);
  CHECK(std::stoll(rows["caching"][7]) < std::stoll(rows["no-caching"][7]));  // the cache saves device calls
  CHECK(r.out.find("cuda-async") != std::string::npos);
}

TEST_CASE("stream-bench: the load allocates exactly its destinations") {
  TempDir dir("cli-model");
  const std::string path = init_small(dir);
  CliResult r = run_pthrun("stream-bench " + quote(path) + " --device cpu --repeat 1");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const std::size_t row = r.out.find("open + load_tensors -> cpu");
  REQUIRE(row != std::string::npos);
  std::istringstream words(r.out.substr(row + std::string("open + load_tensors -> cpu").size()));
  std::string seconds, gbs, ratio, peak, peak_unit, destinations, destinations_unit;
  words >> seconds >> gbs >> ratio >> peak >> peak_unit >> destinations >> destinations_unit;
  CHECK(std::stod(seconds) > 0);
  CHECK(peak + peak_unit == destinations + destinations_unit);
  CHECK(r.out.find("read() into a 64 MiB buffer") != std::string::npos);
}

TEST_CASE("perplexity: the command gives the guide's figure; bad arguments are refused") {
  const JsonValue ref = parse_json(read_file(fixture("perplexity/reference.json")));
  const std::string model = quote(fixture("perplexity/tiny.pth")), text = quote(fixture("perplexity/text.txt"));
  const JsonValue& c = ref.at("cases").at(1);  // ctx 64, stride 32
  CliResult r = run_pthrun("perplexity " + model + " -f " + text + " --heads 4 --device cpu --ctx 64 --stride 32 --json");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const JsonValue out = parse_json(r.out);
  const double expected = c.at("perplexity").get<double>();
  CHECK(std::fabs(out.at("perplexity").get<double>() - expected) <= 1e-4 * expected);
  CHECK(out.at("scored_tokens").get<int64_t>() == c.at("scored_tokens").get<int64_t>());
  // int8 weights and a greedy comparison with f32 run through the same command.
  r = run_pthrun("perplexity " + model + " -f " + text + " --heads 4 --device cpu --dtype int8 --greedy 8 "
                 "--prompt-tokens 4 --json");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(parse_json(r.out).at("dtype").get<std::string>() == "int8");
  CHECK(parse_json(r.out).at("greedy_tokens").get<int64_t>() == 8);

  r = run_pthrun("perplexity " + model + " --heads 4 --device cpu");
  CHECK(r.status == 2);
  r = run_pthrun("perplexity " + model + " -f " + text + " --heads 4 --device cpu --ctx 65");
  CHECK(r.status == 1);
  CHECK(r.err.find("--ctx 65: expected 2 to the model's context of 64") != std::string::npos);
  r = run_pthrun("perplexity " + model + " -f " + text + " --heads 4 --device cpu --greedy 70");
  CHECK(r.status == 1);
  CHECK(r.err.find("more than the model's context of 64") != std::string::npos);
}
