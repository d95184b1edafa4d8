// pthrun perplexity: how well a checkpoint predicts a text, by Hugging Face's sliding-window
// method (model/perplexity.h), in any dtype; with --greedy N, also how far greedy decoding in
// that dtype follows the f32 model's (for judging reduced-precision weights).
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "model/generate.h"
#include "model/gpt2.h"
#include "model/perplexity.h"
#include "model/tokenizer.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/json.h"
#include "tools/cli.h"
#include "tools/model_options.h"

namespace pthrun::cli {

namespace {

struct PerplexityArgs {
  std::string checkpoint, text_file;
  int64_t ctx = 0, stride = 0, greedy = 0, prompt_tokens = 32;
  std::optional<std::string> vocab_dir;
  bool json = false;
  ModelArgs model;
};

// Greedy continuations of one prompt by the model and by the same checkpoint in f32 (weights
// and KV cache): the tokens equal position by position, and where they first differ (-1:
// nowhere).
struct GreedyAgreement {
  int64_t equal = 0, first_difference = -1, tokens = 0;
};

GreedyAgreement greedy_agreement(const std::shared_ptr<const Gpt2Model>& model, const std::string& checkpoint,
                                 ModelOptions f32_options, const std::vector<int32_t>& prompt, int64_t n) {
  GenerationOptions options;
  options.max_new_tokens = n;  // greedy, no stop token: both run all n steps
  const std::vector<int32_t> ours = generate(model, {prompt}, options).tokens[0];
  f32_options.dtype = DType::f32;
  f32_options.kv_dtype = DType::f32;  // the reference is f32 throughout, cache included
  const std::vector<int32_t> f32 = generate(Gpt2Model::load(checkpoint, f32_options), {prompt}, options).tokens[0];
  GreedyAgreement a;
  a.tokens = static_cast<int64_t>(std::min(ours.size(), f32.size()));
  for (int64_t i = 0; i < a.tokens; ++i) {
    if (ours[static_cast<std::size_t>(i)] == f32[static_cast<std::size_t>(i)]) ++a.equal;
    else if (a.first_difference < 0) a.first_difference = i;
  }
  return a;
}

int run_perplexity(const PerplexityArgs& args) {
  ModelOptions options = model_options(args.model);
  // Inputs first: a missing vocabulary or text fails before the weights are read.
  Tokenizer tokenizer = args.vocab_dir ? Tokenizer::load(*args.vocab_dir) : Tokenizer::load_default();
  const std::vector<int32_t> ids = tokenizer.encode(read_file(args.text_file));
  const Gpt2Config config = Gpt2Model::read_config(args.checkpoint, options);
  PTHRUN_CHECK(tokenizer.vocab_size() == config.vocab_size, args.checkpoint, ": the model's vocabulary has ",
               config.vocab_size, " ids, the tokenizer's ", tokenizer.vocab_size());
  PTHRUN_CHECK(args.greedy == 0 || args.prompt_tokens + args.greedy <= config.context, "--prompt-tokens ",
               args.prompt_tokens, " + --greedy ", args.greedy, " is more than the model's context of ",
               config.context);
  PTHRUN_CHECK(args.greedy == 0 || static_cast<int64_t>(ids.size()) >= args.prompt_tokens, args.text_file, " has ",
               ids.size(), " tokens, fewer than --prompt-tokens ", args.prompt_tokens);

  const auto model = Gpt2Model::load(args.checkpoint, options);
  const Perplexity p = sliding_window_perplexity(model, ids, {.ctx = args.ctx, .stride = args.stride});
  std::optional<GreedyAgreement> agreement;
  if (args.greedy > 0) {
    const std::vector<int32_t> prompt(ids.begin(), ids.begin() + args.prompt_tokens);
    agreement = greedy_agreement(model, args.checkpoint, options, prompt, args.greedy);
  }

  const char* dtype = model->dtype() == DType::i8 ? "int8" : dtype_short_name(model->dtype());
  if (args.json) {
    JsonWriter out;
    out.begin_object().key("dtype").value(dtype).key("perplexity").value(p.perplexity);
    out.key("mean_nll").value(p.mean_nll).key("scored_tokens").value(p.scored_tokens);
    out.key("windows").value(p.windows).key("text_tokens").value(static_cast<int64_t>(ids.size()));
    if (agreement) {
      out.key("greedy_tokens").value(agreement->tokens).key("greedy_equal").value(agreement->equal);
      out.key("greedy_first_difference").value(agreement->first_difference);
    }
    out.end_object();
    std::printf("%s\n", out.text().c_str());
    return 0;
  }
  std::printf("perplexity %.4f (mean NLL %.6f) over %lld tokens in %lld windows (%s, %zu tokens of text)\n",
              p.perplexity, p.mean_nll, static_cast<long long>(p.scored_tokens), static_cast<long long>(p.windows),
              dtype, ids.size());
  if (agreement) {
    std::printf("greedy vs f32: %lld of %lld tokens equal", static_cast<long long>(agreement->equal),
                static_cast<long long>(agreement->tokens));
    if (agreement->first_difference >= 0)
      std::printf(", first difference at %lld", static_cast<long long>(agreement->first_difference));
    std::printf("\n");
  }
  return 0;
}

}  // namespace

extern const Command perplexity_command = {
    "perplexity", "Sliding-window perplexity of a text, as Hugging Face's guide computes it",
    [](CLI::App& app) {
      auto args = std::make_shared<PerplexityArgs>();
      app.add_option("CKPT", args->checkpoint, "the checkpoint")->required();
      app.add_option("-f,--file", args->text_file, "the text to score")->type_name("TEXT")->required();
      app.add_option("--ctx", args->ctx, "tokens per window (default: the model's context)")
          ->type_name("N")
          ->check(integer_in(2, 1 << 20));
      app.add_option("--stride", args->stride, "tokens between window starts (default: ctx / 2)")
          ->type_name("S")
          ->check(integer_in(1, 1 << 20));
      app.add_option("--greedy", args->greedy,
                     "also decode N tokens greedily in --dtype and in f32 from the text's start and compare")
          ->type_name("N")
          ->check(integer_in(0, 1 << 20));
      app.add_option("--prompt-tokens", args->prompt_tokens, "the prompt for --greedy: the text's first N tokens "
                                                             "(default 32)")
          ->type_name("N")
          ->check(integer_in(1, 1 << 20));
      app.add_option("--vocab", args->vocab_dir, "tokenizer files (encoder.json + vocab.bpe, or vocab.json + merges.txt)")
          ->type_name("DIR");
      app.add_flag("--json", args->json, "print JSON");
      add_model_options(app, args->model);
      return [args] { return run_perplexity(*args); };
    },
    "Windows of --ctx tokens every --stride tokens; each scores only the tokens the previous one\n"
    "did not reach, and perplexity = exp(mean negative log-likelihood), weighted per window as\n"
    "Hugging Face's perplexity guide weights it."};

}  // namespace pthrun::cli
