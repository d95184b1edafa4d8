// Text generation: prefill every prompt, then decode all of them together, one token per step,
// until each stops.
//
//   auto model = Gpt2Model::load("model.pth");
//   GenerationOptions options;
//   options.max_new_tokens = 30;
//   options.sampling = {.temperature = 0.8f, .top_k = 40};
//   options.stop_token = tokenizer.eot_id();
//   GenerationResult r = generate(model, {prompt_ids}, options,
//                                 [](int64_t prompt, int32_t token) { /* stream it out */ });
//
// A prompt stops at the stop token (when one is given), after max_new_tokens, or when its slot
// is full. Prompt b draws its tokens from (seed, its step, stream b) (kernels/sampling.h): the
// same seed gives the same tokens on the CPU and the GPU, and a prompt's tokens do not depend on
// the others in the batch.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "kernels/sampling.h"
#include "model/gpt2.h"
#include "model/session.h"

namespace pthrun {

struct GenerationOptions {
  int64_t max_new_tokens = 50;
  kernels::SamplingParams sampling;  // temperature 0: greedy
  uint64_t seed = 0;
  std::optional<int32_t> stop_token;  // the tokenizer's <|endoftext|> (Tokenizer::eot_id()); none: never stop early
  int64_t sample_vocab = 0;  // the tokenizer's size: larger ids are never drawn (SessionOptions); 0: all
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

// The slots a generation of these prompts needs: one per prompt, tokens for the longest prompt
// and its continuation (the last new token is never fed back). Throws pthrun::Error for an
// empty prompt, a prompt longer than the context, or ids outside the vocabulary.
SessionOptions session_options_for(const Gpt2Model& model, const std::vector<std::vector<int32_t>>& prompts,
                                   const GenerationOptions& options);

// Runs in `session`'s slots 0 .. P-1, which it resets first. The session needs P slots and room
// for each prompt and its continuation (session_options_for); other slots are left alone.
GenerationResult generate(Session& session, const std::vector<std::vector<int32_t>>& prompts,
                          const GenerationOptions& options,
                          const std::function<void(int64_t prompt, int32_t token)>& on_token = {});
// In a session of its own, sized by session_options_for.
GenerationResult generate(const std::shared_ptr<const Gpt2Model>& model,
                          const std::vector<std::vector<int32_t>>& prompts, const GenerationOptions& options,
                          const std::function<void(int64_t prompt, int32_t token)>& on_token = {});

}  // namespace pthrun
