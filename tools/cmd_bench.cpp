// pthrun bench: prefill and decode speed at batch 1, for a checkpoint or a generated GPT-2.
//
// Each figure is the median of --repeat runs after one warm-up run (which also captures the
// decode graph on a GPU). "forward" computes the logits of every position, as a PyTorch
// forward does; "prefill" only those of the last token, as generation needs; "decode" is the
// time per new token, sampling included.
#include <algorithm>
#include <chrono>
#include <optional>
#include <cstdio>
#include <vector>

#include "model/config.h"
#include "model/generate.h"
#include "model/gpt2.h"
#include "model/session.h"
#include "runtime/error.h"
#include "runtime/json.h"
#include "tools/cli.h"
#include "tools/model_options.h"

namespace pthrun::cli {

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

struct BenchArgs {
  std::string checkpoint, config;
  std::optional<int64_t> context;
  int64_t prompt_tokens = 128, new_tokens = 64, repeat = 5;
  bool json = false;
  ModelArgs model;
};

std::shared_ptr<const Gpt2Model> bench_model(const BenchArgs& args, const ModelOptions& options, std::string* what) {
  if (!args.checkpoint.empty()) {
    *what = args.checkpoint;
    return Gpt2Model::load(args.checkpoint, options);
  }
  const std::string name = args.config.empty() ? "gpt2-small" : args.config;
  Gpt2Config config = preset_config(*find_preset(name));
  config.heads_source = "--config " + name;
  config.context = args.context.value_or(config.context);
  *what = str(name, " (random weights)");
  return Gpt2Model::create_random(config, options, 1);
}

int run_bench(const BenchArgs& args) {
  if (!args.checkpoint.empty() && (!args.config.empty() || args.context))
    throw UsageError("give a checkpoint or --config, not both");
  const ModelOptions options = model_options(args.model);
  std::string what;
  const std::shared_ptr<const Gpt2Model> model = bench_model(args, options, &what);
  const Gpt2Config& c = model->config();
  const int64_t prompt_tokens = args.prompt_tokens, new_tokens = args.new_tokens;
  const int repeat = static_cast<int>(args.repeat);
  PTHRUN_CHECK(prompt_tokens + new_tokens - 1 <= c.context, "--prompt-tokens ", prompt_tokens, " + --new-tokens ",
               new_tokens, " do not fit the context of ", c.context);

  std::vector<int32_t> prompt(static_cast<std::size_t>(prompt_tokens));
  for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((i * 7919 + 13) % c.vocab_size);
  GenerationOptions generation;
  generation.max_new_tokens = new_tokens;

  // Forward runs first, then generation runs, each in a session that keeps its buffers (and
  // decode graph) from one run to the next. Run -1 warms up.
  std::vector<double> forward_ms, prefill_ms, decode_ms;
  Session forward_session(model, {.slots = 1, .max_tokens = prompt_tokens});
  for (int run = -1; run < repeat; ++run) {
    const auto start = Clock::now();
    Tensor logits = forward_session.forward(prompt);
    if (run >= 0) forward_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  Session session(model, session_options_for(*model, {prompt}, generation));
  for (int run = -1; run < repeat; ++run) {
    GenerationResult result = generate(session, {prompt}, generation);
    if (run < 0) continue;
    prefill_ms.push_back(result.prefill_seconds * 1e3);
    decode_ms.push_back(result.decode_ms_per_token());
  }
  const AllocatorStats stats = device_allocator(model->device()).stats();
  const double forward = median(forward_ms), prefill = median(prefill_ms), decode = median(decode_ms);
  const double weights = static_cast<double>(model->weights().nbytes());

  if (args.json) {
    JsonWriter out;
    out.begin_object().key("model").value(what).key("device").value(model->device().to_string());
    out.key("dtype").value(dtype_short_name(model->dtype())).key("prompt_tokens").value(prompt_tokens);
    out.key("new_tokens").value(new_tokens).key("repeat").value(repeat);
    out.key("heads").value(model->config().heads).key("heads_source").value(model->config().heads_source);
    out.key("weights_bytes").value(weights);
    out.key("forward_ms").value(forward).key("prefill_ms").value(prefill);
    out.key("prefill_tokens_per_second").value(1e3 * static_cast<double>(prompt_tokens) / prefill);
    out.key("decode_ms_per_token").value(decode);
    out.key("peak_allocated_bytes").value(stats.allocated_bytes[all_pools].peak);
    out.key("peak_reserved_bytes").value(stats.reserved_bytes[all_pools].peak);
    out.end_object();
    std::printf("%s\n", out.text().c_str());
    return 0;
  }
  std::printf("pthrun bench: %s on %s, %s; median of %d runs\n", what.c_str(), model->device().to_string().c_str(),
              dtype_short_name(model->dtype()), repeat);
  std::printf("  %-28s %s\n", "weights", format_bytes(weights).c_str());
  std::printf("  %-28s %10.2f ms  %10.0f tokens/s\n", str("forward, ", prompt_tokens, " tokens").c_str(), forward,
              1e3 * static_cast<double>(prompt_tokens) / forward);
  std::printf("  %-28s %10.2f ms  %10.0f tokens/s\n", str("prefill, ", prompt_tokens, " tokens").c_str(), prefill,
              1e3 * static_cast<double>(prompt_tokens) / prefill);
  std::printf("  %-28s %10.3f ms/token\n", str("decode, ", new_tokens, " tokens").c_str(), decode);
  std::printf("  %-28s %s / %s\n", "peak allocated / reserved",
              format_bytes(static_cast<double>(stats.allocated_bytes[all_pools].peak)).c_str(),
              format_bytes(static_cast<double>(stats.reserved_bytes[all_pools].peak)).c_str());
  return 0;
}

}  // namespace

extern const Command bench_command = {
    "bench", "Measure prefill tokens/s and decode ms/token at batch 1", [](CLI::App& app) {
      auto args = std::make_shared<BenchArgs>();
      app.add_option("CKPT", args->checkpoint, "the checkpoint (default: random weights, see --config)");
      add_preset_option(app, args->config,
                        "without CKPT: a random gpt2-small (default), gpt2-medium, gpt2-large or gpt2-xl");
      app.add_option("--context", args->context, "with --config: the context length (default 1024)")
          ->type_name("N")
          ->check(integer_in(1, 1 << 20));
      app.add_option("--prompt-tokens", args->prompt_tokens, "prompt length (default 128)")
          ->type_name("N")
          ->check(integer_in(1, 1 << 20));
      app.add_option("--new-tokens", args->new_tokens, "tokens to decode (default 64)")
          ->type_name("N")
          ->check(integer_in(1, 1 << 20));
      app.add_option("--repeat", args->repeat, "runs to take the median of, after one warm-up (default 5)")
          ->type_name("N")
          ->check(integer_in(1, 1000));
      app.add_flag("--json", args->json, "print JSON");
      add_model_options(app, args->model);
      return [args] { return run_bench(*args); };
    }};

}  // namespace pthrun::cli
