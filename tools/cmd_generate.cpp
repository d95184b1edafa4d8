// pthrun generate: text in, text out (or token ids in and out).
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "model/generate.h"
#include "model/gpt2.h"
#include "model/session.h"
#include "model/tokenizer.h"
#include "runtime/alloc_trace.h"
#include "runtime/error.h"
#include "runtime/json.h"
#include "tools/cli.h"
#include "tools/model_options.h"

namespace pthrun::cli {

namespace {

// The tokenizer: needed for text prompts, else used to print text when it can be loaded.
std::optional<Tokenizer> load_tokenizer(const ParsedArgs& args, bool needed) {
  try {
    return args.has("vocab") ? Tokenizer::load(*args.get("vocab")) : Tokenizer::load_default();
  } catch (const Error&) {
    if (needed) throw;
    return std::nullopt;
  }
}

// Enables the allocator trace before anything is allocated: allocators read their settings once.
void enable_trace() {
  const char* conf = std::getenv("PTHRUN_ALLOC_CONF");
  std::string value = conf && *conf ? str(conf, ",trace:1") : "trace:1";
  setenv("PTHRUN_ALLOC_CONF", value.c_str(), 1);
}

int run_generate(const ParsedArgs& args) {
  args.max_positional(1);
  const std::string& checkpoint = args.positional(0, "the checkpoint (CKPT)");
  const std::vector<std::string> texts = args.get_all("prompt");
  const std::vector<std::string> token_lists = args.get_all("tokens");
  if (texts.empty() == token_lists.empty())
    throw UsageError("give the prompt as --prompt TEXT or as --tokens IDS (either may be repeated for a batch)");

  GenerationOptions options;
  options.max_new_tokens = args.get_int("max-new-tokens", 50, 0, 1 << 20);
  options.sampling.temperature = static_cast<float>(args.get_double("temperature", 0, 0, 100));
  options.sampling.top_k = static_cast<int>(args.get_int("top-k", 0, 0, 1 << 30));
  options.sampling.top_p = static_cast<float>(args.get_double("top-p", 1, 0, 1));
  PTHRUN_CHECK(options.sampling.top_p > 0, "--top-p 0 keeps no token: expected a value in (0, 1]");
  options.seed = static_cast<uint64_t>(args.get_int("seed", 0, 0, INT64_MAX));
  const auto trace_path = args.get("alloc-trace");
  if (trace_path) enable_trace();
  ModelOptions model_opts = model_options(args);

  // Every input is checked before the weights are read: a missing vocabulary, a bad id or a
  // prompt too long fail at once, not after a load of gigabytes.
  std::optional<Tokenizer> tokenizer = load_tokenizer(args, !texts.empty());
  const Gpt2Config config = Gpt2Model::read_config(checkpoint, model_opts);
  if (tokenizer && tokenizer->vocab_size() != config.vocab_size) {
    PTHRUN_CHECK(texts.empty(), "the model's vocabulary has ", config.vocab_size, " ids, the tokenizer's ",
                 tokenizer->vocab_size(), ": give the prompt as --tokens");
    tokenizer.reset();
  }
  std::vector<std::vector<int32_t>> prompts;
  for (const std::string& text : texts) prompts.push_back(tokenizer->encode(text));
  for (const std::string& list : token_lists) {
    std::vector<int32_t> ids;
    for (int64_t id : parse_int_list(list, "option --tokens")) {
      PTHRUN_CHECK(id >= 0 && id < config.vocab_size, "--tokens: id ", id, " is outside the model's vocabulary of ",
                   config.vocab_size, " ids");
      ids.push_back(static_cast<int32_t>(id));
    }
    prompts.push_back(std::move(ids));
  }
  if (!args.has("no-stop") && tokenizer) options.stop_token = tokenizer->eot_id();

  const auto model = Gpt2Model::load(checkpoint, model_opts);
  SessionOptions session_opts = session_options_for(*model, prompts, options);
  session_opts.cuda_graphs = !args.has("no-graph");
  Session session(model, session_opts);

  const bool json = args.has("json");
  // One prompt in text mode streams its continuation as it is made.
  const bool stream = !json && tokenizer && prompts.size() == 1;
  GenerationResult result = generate(session, prompts, options, [&](int64_t, int32_t token) {
    if (!stream) return;
    const std::string& bytes = tokenizer->token_bytes(token);
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    std::fflush(stdout);
  });

  if (json) {
    JsonWriter out;
    out.begin_object().key("device").value(model->device().to_string()).key("dtype").value(dtype_short_name(model->dtype()));
    out.key("results").begin_array();
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      out.begin_object().key("prompt_ids").begin_array();
      for (int32_t id : prompts[i]) out.value(id);
      out.end_array().key("ids").begin_array();
      for (int32_t id : result.tokens[i]) out.value(id);
      out.end_array();
      if (tokenizer) out.key("text").value(tokenizer->decode(result.tokens[i]));
      out.end_object();
    }
    out.end_array();
    out.key("prefill_tokens_per_second").value(result.prefill_tokens_per_second());
    out.key("decode_ms_per_token").value(result.decode_ms_per_token());
    out.end_object();
    std::printf("%s\n", out.text().c_str());
  } else if (stream) {
    std::printf("\n");
  } else {
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      if (prompts.size() > 1) std::printf("--- prompt %zu\n", i);
      if (tokenizer) {
        std::printf("%s\n", tokenizer->decode(result.tokens[i]).c_str());
      } else {
        std::string ids = "[";
        for (std::size_t t = 0; t < result.tokens[i].size(); ++t) ids += str(t ? ", " : "", result.tokens[i][t]);
        std::printf("%s]\n", ids.c_str());
      }
    }
  }
  std::fprintf(stderr, "prefill: %lld tokens, %.0f tokens/s; decode: %lld steps, %.3f ms/token (%s, %s)\n",
               static_cast<long long>(result.prompt_tokens), result.prefill_tokens_per_second(),
               static_cast<long long>(result.decode_steps), result.decode_ms_per_token(),
               model->device().to_string().c_str(), dtype_short_name(model->dtype()));
  if (trace_path) write_trace_file(device_allocator(model->device()), *trace_path);
  return 0;
}

}  // namespace

extern const CommandSpec generate_command = {
    "generate",
    "Continue a prompt with a GPT-2 checkpoint",
    "CKPT",
    with_model_options({
        {"prompt", 'p', "TEXT", "the prompt as text (repeat for a batch)"},
        {"tokens", 0, "IDS", "the prompt as comma-separated token ids (repeat for a batch)"},
        {"max-new-tokens", 'n', "N", "at most N new tokens (default 50)"},
        {"temperature", 0, "T", "sampling temperature; 0 is greedy (default 0)"},
        {"top-k", 0, "K", "sample among the K most likely tokens (default: all)"},
        {"top-p", 0, "P", "sample among the most likely tokens holding probability P (default 1)"},
        {"seed", 0, "S", "seed for sampling; the same seed gives the same text (default 0)"},
        {"no-stop", 0, nullptr, "do not stop at <|endoftext|>"},
        {"vocab", 0, "DIR", "tokenizer files (encoder.json + vocab.bpe, or vocab.json + merges.txt)"},
        {"json", 0, nullptr, "print JSON: ids, text and timings"},
        {"alloc-trace", 0, "FILE", "record the allocator trace to FILE (see pthrun alloc-report)"},
        {"no-graph", 0, nullptr, "do not capture the decode step in a CUDA graph"},
    }),
    run_generate,
    "Prints the continuation (text when the model uses GPT-2's vocabulary, ids otherwise) and,\n"
    "on stderr, one line of timing: prefill tokens/s and decode ms/token."};

}  // namespace pthrun::cli
