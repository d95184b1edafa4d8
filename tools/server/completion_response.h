// Writing a completion back in OpenAI's shapes: one JSON object (`"object": "text_completion"`)
// or, when streaming, server-sent events — `data: {chunk}` per piece of text, then
// `data: [DONE]`.
//
//   CompletionAnswer answer(context, request, prompt_texts, &tokenizer);
//   sink.write(answer.opening_events());                  // streaming: echoed prompts
//   sink.write(answer.events(channel->take(20ms)));       // ... as updates arrive
//   sink.write(answer.closing_events());                  // usage (when asked for) and [DONE]
//   // or, not streaming: answer.add(updates) until done, then answer.body()
//
// Choices are numbered prompt * n + j. A streamed choice's chunks carry only released text
// (never part of a character); log-probabilities ride with the chunk that releases their text.
// With echo and log-probabilities, the prompt's tokens are scored too (the first has none:
// null), and the echoed prompt is streamed with them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/tokenizer.h"
#include "tools/server/completion_request.h"
#include "tools/server/engine.h"

namespace pthrun::serve {

struct ResponseContext {
  std::string id;       // "cmpl-..."
  int64_t created = 0;  // Unix seconds
  std::string model;
};

class CompletionAnswer {
 public:
  // `prompt_texts[p]`: prompt p as text (for echo); `tokenizer` names tokens in log-probabilities.
  CompletionAnswer(ResponseContext context, const CompletionRequest& request, std::vector<std::string> prompt_texts,
                   const Tokenizer* tokenizer);

  std::string opening_events();
  std::string events(const std::vector<ChoiceUpdate>& updates);
  std::string closing_events() const;

  void add(const std::vector<ChoiceUpdate>& updates);
  nlohmann::json body() const;

  int64_t prompt_tokens() const { return prompt_tokens_; }
  int64_t completion_tokens() const { return completion_tokens_; }
  // The first error the engine reported, "" when none.
  const std::string& error() const { return error_; }

 private:
  struct Choice {
    std::string text;
    std::vector<TokenLogprob> logprobs;  // streaming: those not yet sent
    std::size_t offset_base = 0;         // echoed prompt's code points
    std::optional<FinishReason> finish;
  };
  void record(const ChoiceUpdate& update, Choice& choice);
  nlohmann::json chunk(int64_t index, const std::string& text, const nlohmann::json& logprobs,
                       const nlohmann::json& finish) const;
  nlohmann::json logprobs_json(const std::vector<TokenLogprob>& logprobs, std::size_t offset_base) const;
  std::string token_text(int32_t token) const;

  ResponseContext context_;
  bool want_logprobs_;
  std::vector<std::string> echoed_;  // per choice: the prompt text when echo
  std::vector<Choice> choices_;
  const Tokenizer* tokenizer_;
  int64_t prompt_tokens_ = 0, completion_tokens_ = 0;
  bool include_usage_;
  std::string error_;
};

// `data: <json>\n\n`, the JSON always valid UTF-8.
std::string sse_event(const nlohmann::json& data);

}  // namespace pthrun::serve
