// pthrun generate: text in, text out (or token ids in and out).
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "model/generate.h"
#include "model/gpt2.h"
#include "model/session.h"
#include "model/tokenizer.h"
#include "runtime/alloc_config.h"
#include "runtime/alloc_trace.h"
#include "runtime/allocator.h"
#include "runtime/error.h"
#include "runtime/json.h"
#include "tools/cli.h"
#include "tools/model_options.h"
#include "tools/text_release.h"

namespace pthrun::cli {

namespace {

struct GenerateArgs {
  std::string checkpoint;
  std::vector<std::string> prompts, token_lists;
  int64_t max_new_tokens = 50, top_k = 0, seed = 0;
  double temperature = 0, top_p = 1;
  bool no_stop = false, json = false, no_graph = false;
  std::optional<std::string> vocab_dir, alloc_trace;
  ModelArgs model;
};

// The tokenizer: needed for text prompts, else used to print text when it can be loaded.
std::optional<Tokenizer> load_tokenizer(const GenerateArgs& args, bool needed) {
  try {
    return args.vocab_dir ? Tokenizer::load(*args.vocab_dir) : Tokenizer::load_default();
  } catch (const Error&) {
    if (needed) throw;
    return std::nullopt;
  }
}

int run_generate(const GenerateArgs& args) {
  const std::string& checkpoint = args.checkpoint;
  const std::vector<std::string>& texts = args.prompts;
  const std::vector<std::string>& token_lists = args.token_lists;
  if (texts.empty() == token_lists.empty())
    throw UsageError("give the prompt as --prompt TEXT or as --tokens IDS (either may be repeated for a batch)");

  GenerationOptions options;
  options.max_new_tokens = args.max_new_tokens;
  options.sampling.temperature = static_cast<float>(args.temperature);
  options.sampling.top_k = static_cast<int>(args.top_k);
  options.sampling.top_p = static_cast<float>(args.top_p);
  PTHRUN_CHECK(options.sampling.top_p > 0, "--top-p 0 keeps no token: expected a value in (0, 1]");
  options.seed = static_cast<uint64_t>(args.seed);
  const auto& trace_path = args.alloc_trace;
  if (trace_path) {  // before anything is allocated: allocators read their settings once
    AllocatorConfig traced = allocator_config();
    traced.trace = true;
    configure_allocators(traced);
  }
  ModelOptions model_opts = model_options(args.model);

  // Every input is checked before the weights are read: a missing vocabulary, a bad id or a
  // prompt too long fail at once, not after a load of gigabytes.
  std::optional<Tokenizer> tokenizer = load_tokenizer(args, !texts.empty());
  const Gpt2Config config = Gpt2Model::read_config(checkpoint, model_opts);
  // A vocabulary padded beyond the tokenizer's (nanoGPT's 50304) takes text; its extra ids are
  // never sampled. A smaller one does not: the tokenizer would make ids it lacks.
  if (tokenizer && tokenizer->vocab_size() > config.vocab_size) {
    PTHRUN_CHECK(texts.empty(), "the model's vocabulary has ", config.vocab_size, " ids, fewer than the tokenizer's ",
                 tokenizer->vocab_size(), ": give the prompt as --tokens");
    tokenizer.reset();
  }
  if (tokenizer) options.sample_vocab = tokenizer->vocab_size();
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
  if (!args.no_stop && tokenizer) options.stop_token = tokenizer->eot_id();

  const auto model = Gpt2Model::load(checkpoint, model_opts);
  SessionOptions session_opts = session_options_for(*model, prompts, options);
  session_opts.cuda_graphs = !args.no_graph;
  Session session(model, session_opts);

  const bool json = args.json;
  // One prompt in text mode streams its continuation as it is made.
  // Tokens may end inside a character: the stream shows whole characters only, so that what
  // reaches the terminal is valid UTF-8 (held bytes complete with the next token).
  const bool stream = !json && tokenizer && prompts.size() == 1;
  TextRelease streamed;
  const auto print = [](const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  };
  GenerationResult result = generate(session, prompts, options, [&](int64_t, int32_t token) {
    if (stream) print(streamed.add(tokenizer->token_bytes(token)).text);
  });

  if (json) {
    JsonWriter out;
    out.begin_object().key("device").value(model->device().to_string()).key("dtype").value(dtype_short_name(model->dtype()));
    out.key("heads").value(model->config().heads).key("heads_source").value(model->config().heads_source);
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
    print(streamed.flush() + "\n");
  } else {
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      if (prompts.size() > 1) std::printf("--- prompt %zu\n", i);
      if (tokenizer) {
        std::printf("%s\n", sanitize_utf8(tokenizer->decode(result.tokens[i]), true).c_str());
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

extern const Command generate_command = {
    "generate", "Continue a prompt with a GPT-2 checkpoint",
    [](CLI::App& app) {
      auto args = std::make_shared<GenerateArgs>();
      app.add_option("CKPT", args->checkpoint, "the checkpoint")->required();
      app.add_option("-p,--prompt", args->prompts, "the prompt as text (repeat for a batch)")
          ->type_name("TEXT")
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
      app.add_option("--tokens", args->token_lists, "the prompt as comma-separated token ids (repeat for a batch)")
          ->type_name("IDS")
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
      app.add_option("-n,--max-new-tokens", args->max_new_tokens, "at most N new tokens (default 50)")
          ->type_name("N")
          ->check(integer_in(0, 1 << 20));
      app.add_option("--temperature", args->temperature, "sampling temperature; 0 is greedy (default 0)")
          ->type_name("T")
          ->check(number_in(0, 100));
      app.add_option("--top-k", args->top_k, "sample among the K most likely tokens (default: all)")
          ->type_name("K")
          ->check(integer_in(0, 1 << 30));
      app.add_option("--top-p", args->top_p, "sample among the most likely tokens holding probability P (default 1)")
          ->type_name("P")
          ->check(number_in(0, 1));
      app.add_option("--seed", args->seed, "seed for sampling; the same seed gives the same text (default 0)")
          ->type_name("S")
          ->check(integer_in(0, INT64_MAX));
      app.add_flag("--no-stop", args->no_stop, "do not stop at <|endoftext|>");
      app.add_option("--vocab", args->vocab_dir, "tokenizer files (encoder.json + vocab.bpe, or vocab.json + merges.txt)")
          ->type_name("DIR");
      app.add_flag("--json", args->json, "print JSON: ids, text and timings");
      app.add_option("--alloc-trace", args->alloc_trace, "record the allocator trace to FILE (see pthrun alloc-report)")
          ->type_name("FILE");
      app.add_flag("--no-graph", args->no_graph, "do not capture the decode step in a CUDA graph");
      add_model_options(app, args->model);
      return [args] { return run_generate(*args); };
    },
    "Prints the continuation (text when the model uses GPT-2's vocabulary, ids otherwise) and,\n"
    "on stderr, one line of timing: prefill tokens/s and decode ms/token."};

}  // namespace pthrun::cli
