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

namespace {

void check_prompts(const Gpt2Model& model, const std::vector<std::vector<int32_t>>& prompts,
                   const GenerationOptions& options) {
  const Gpt2Config& config = model.config();
  PTHRUN_CHECK(!prompts.empty(), "no prompt to generate from");
  PTHRUN_CHECK(options.max_new_tokens >= 0, "-n ", options.max_new_tokens, ": expected at least 0");
  for (std::size_t b = 0; b < prompts.size(); ++b) {
    const auto n = static_cast<int64_t>(prompts[b].size());
    PTHRUN_CHECK(n > 0, "prompt ", b, " is empty");
    PTHRUN_CHECK(n <= config.context, "prompt ", b, " has ", n, " tokens, more than the model's context of ",
                 config.context);
    for (int32_t id : prompts[b])
      PTHRUN_CHECK(id >= 0 && id < config.vocab_size, "prompt ", b, ": token ", id,
                   " is outside the vocabulary of ", config.vocab_size, " ids");
  }
}

}  // namespace

SessionOptions session_options_for(const Gpt2Model& model, const std::vector<std::vector<int32_t>>& prompts,
                                   const GenerationOptions& options) {
  check_prompts(model, prompts, options);
  int64_t longest = 0;
  for (const auto& prompt : prompts) longest = std::max(longest, static_cast<int64_t>(prompt.size()));
  const int64_t continuation = std::max<int64_t>(options.max_new_tokens - 1, 0);
  SessionOptions session;
  session.slots = static_cast<int64_t>(prompts.size());
  session.max_tokens = std::min(model.config().context, longest + continuation);
  session.sample_vocab = options.sample_vocab;
  return session;
}

GenerationResult generate(Session& session, const std::vector<std::vector<int32_t>>& prompts,
                          const GenerationOptions& options, const std::function<void(int64_t, int32_t)>& on_token) {
  using Clock = std::chrono::steady_clock;
  check_prompts(session.model(), prompts, options);
  const auto batch = static_cast<int64_t>(prompts.size());
  PTHRUN_CHECK(batch <= session.slots(), prompts.size(), " prompts for a session of ", session.slots(), " slots");
  for (std::size_t b = 0; b < prompts.size(); ++b)
    PTHRUN_CHECK(static_cast<int64_t>(prompts[b].size()) <= session.max_tokens(), "prompt ", b, " has ",
                 prompts[b].size(), " tokens, more than the session's ", session.max_tokens(), " per slot");

  GenerationResult result;
  result.tokens.resize(prompts.size());
  if (options.max_new_tokens == 0) return result;
  std::vector<bool> active(static_cast<std::size_t>(session.slots()), false);
  for (int64_t b = 0; b < batch; ++b) {
    session.reset(b);
    session.set_sampling(b, {options.sampling, options.seed, static_cast<uint64_t>(b)});
    active[static_cast<std::size_t>(b)] = true;
  }
  auto record = [&](const std::vector<int32_t>& next) {
    for (int64_t b = 0; b < batch; ++b) {
      const auto i = static_cast<std::size_t>(b);
      if (!active[i]) continue;
      result.tokens[i].push_back(next[i]);
      if (on_token) on_token(b, next[i]);
      const bool stop = (options.stop_token && next[i] == *options.stop_token) ||
                        static_cast<int64_t>(result.tokens[i].size()) >= options.max_new_tokens ||
                        session.length(b) >= session.max_tokens();
      if (stop) active[i] = false;
    }
  };

  const auto prefill_start = Clock::now();
  for (int64_t b = 0; b < batch; ++b) {
    session.prefill(b, prompts[static_cast<std::size_t>(b)]);
    result.prompt_tokens += static_cast<int64_t>(prompts[static_cast<std::size_t>(b)].size());
  }
  std::vector<int32_t> next = session.sample(active);
  result.prefill_seconds = std::chrono::duration<double>(Clock::now() - prefill_start).count();
  record(next);

  const auto decode_start = Clock::now();
  while (std::find(active.begin(), active.end(), true) != active.end()) {
    check_interrupt();
    session.decode(next, active);
    next = session.sample(active);
    ++result.decode_steps;
    record(next);
  }
  result.decode_seconds = std::chrono::duration<double>(Clock::now() - decode_start).count();
  return result;
}

GenerationResult generate(const std::shared_ptr<const Gpt2Model>& model,
                          const std::vector<std::vector<int32_t>>& prompts, const GenerationOptions& options,
                          const std::function<void(int64_t, int32_t)>& on_token) {
  Session session(model, session_options_for(*model, prompts, options));
  return generate(session, prompts, options, on_token);
}

}  // namespace pthrun
