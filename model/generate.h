// Text generation: prefill every prompt, then decode all of them together, one token per step,
// until each stops.
//
//   GenerationOptions options;
//   options.max_new_tokens = 30;
//   options.sampling = {.temperature = 0.8f, .top_k = 40};
//   GenerationResult r = generate(model, {prompt_ids}, options,
//                                 [](int64_t seq, int32_t token) { /* stream it out */ });
//
// A sequence stops at <|endoftext|> (unless told not to), after max_new_tokens, or when the
// model's context is full. The same seed gives the same tokens (kernels/sampling.h).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "kernels/sampling.h"
#include "model/gpt2.h"

namespace pthrun {

inline constexpr int32_t kEndOfText = 50256;

struct GenerationOptions {
  int64_t max_new_tokens = 50;
  kernels::SamplingParams sampling;  // temperature 0: greedy
  uint64_t seed = 0;
  bool stop_at_end_of_text = true;
  int32_t end_of_text = kEndOfText;
};

struct GenerationResult {
  std::vector<std::vector<int32_t>> tokens;  // the new tokens of each prompt
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0;  // all prompts, up to the first sampled tokens
  int64_t decode_steps = 0;
  double decode_seconds = 0;
  double prefill_tokens_per_second() const;
  double decode_ms_per_token() const;  // per step, one token for each active sequence
};

// Throws pthrun::Error for an empty prompt, a prompt longer than the context, or ids outside
// the vocabulary, before any work starts.
GenerationResult generate(Gpt2& model, const std::vector<std::vector<int32_t>>& prompts,
                          const GenerationOptions& options,
                          const std::function<void(int64_t sequence, int32_t token)>& on_token = {});

}  // namespace pthrun
