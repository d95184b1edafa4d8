#include "model/generate.h"

#include <algorithm>
#include <chrono>

#include "runtime/error.h"
#include "runtime/interrupt.h"

namespace pthrun {

double GenerationResult::prefill_tokens_per_second() const {
  return prefill_seconds > 0 ? static_cast<double>(prompt_tokens) / prefill_seconds : 0;
}

double GenerationResult::decode_ms_per_token() const {
  return decode_steps > 0 ? 1e3 * decode_seconds / static_cast<double>(decode_steps) : 0;
}

GenerationResult generate(Gpt2& model, const std::vector<std::vector<int32_t>>& prompts,
                          const GenerationOptions& options,
                          const std::function<void(int64_t, int32_t)>& on_token) {
  using Clock = std::chrono::steady_clock;
  const Gpt2Config& config = model.config();
  PTHRUN_CHECK(!prompts.empty(), "no prompt to generate from");
  PTHRUN_CHECK(options.max_new_tokens >= 0, "-n ", options.max_new_tokens, ": expected at least 0");
  int64_t longest = 0;
  for (std::size_t b = 0; b < prompts.size(); ++b) {
    const auto n = static_cast<int64_t>(prompts[b].size());
    PTHRUN_CHECK(n > 0, "prompt ", b, " is empty");
    PTHRUN_CHECK(n <= config.context, "prompt ", b, " has ", n, " tokens, more than the model's context of ",
                 config.context);
    for (int32_t id : prompts[b])
      PTHRUN_CHECK(id >= 0 && id < config.vocab_size, "prompt ", b, ": token ", id,
                   " is outside the vocabulary of ", config.vocab_size, " ids");
    longest = std::max(longest, n);
  }

  GenerationResult result;
  const auto batch = static_cast<int64_t>(prompts.size());
  result.tokens.resize(prompts.size());
  if (options.max_new_tokens == 0) return result;
  // The last new token is never fed back, so the cache needs one slot less than the total.
  const int64_t max_tokens = std::min(config.context, longest + options.max_new_tokens - 1);
  model.start(batch, std::max(max_tokens, longest));

  std::vector<bool> active(prompts.size(), true);
  auto record = [&](const std::vector<int32_t>& next) {
    for (int64_t b = 0; b < batch; ++b) {
      const auto i = static_cast<std::size_t>(b);
      if (!active[i]) continue;
      result.tokens[i].push_back(next[i]);
      if (on_token) on_token(b, next[i]);
      const bool stop = (options.stop_at_end_of_text && next[i] == options.end_of_text) ||
                        static_cast<int64_t>(result.tokens[i].size()) >= options.max_new_tokens ||
                        model.length(b) >= model.max_tokens();
      if (stop) active[i] = false;
    }
  };

  const auto prefill_start = Clock::now();
  for (int64_t b = 0; b < batch; ++b) {
    model.prefill(b, prompts[static_cast<std::size_t>(b)]);
    result.prompt_tokens += static_cast<int64_t>(prompts[static_cast<std::size_t>(b)].size());
  }
  std::vector<int32_t> next = model.sample(options.sampling, options.seed, 0);
  result.prefill_seconds = std::chrono::duration<double>(Clock::now() - prefill_start).count();
  record(next);

  const auto decode_start = Clock::now();
  for (uint64_t step = 1; std::find(active.begin(), active.end(), true) != active.end(); ++step) {
    check_interrupt();
    model.decode(next, active);
    next = model.sample(options.sampling, options.seed, step);
    ++result.decode_steps;
    record(next);
  }
  result.decode_seconds = std::chrono::duration<double>(Clock::now() - decode_start).count();
  return result;
}

}  // namespace pthrun
