#include "tools/server/completion_response.h"

#include "runtime/error.h"
#include "tools/server/api_error.h"
#include "tools/text_release.h"

namespace pthrun::serve {

using nlohmann::json;

namespace {

std::size_t count_chars(const std::string& valid_utf8) {
  std::size_t n = 0;
  for (char c : valid_utf8) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

json finish_json(const std::optional<FinishReason>& finish) {
  if (!finish) return nullptr;
  // A cancelled choice has no client left to read it; an error is reported apart.
  return *finish == FinishReason::length ? "length" : "stop";
}

}  // namespace

std::string sse_event(const json& data) {
  return "data: " + data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

CompletionAnswer::CompletionAnswer(ResponseContext context, const CompletionRequest& request,
                                   std::vector<std::string> prompt_texts, const Tokenizer* tokenizer)
    : context_(std::move(context)),
      want_logprobs_(request.logprobs >= 0),
      tokenizer_(tokenizer),
      include_usage_(request.include_usage) {
  for (std::size_t p = 0; p < request.prompts.size(); ++p) {
    prompt_tokens_ += static_cast<int64_t>(request.prompts[p].size());
    for (int64_t j = 0; j < request.n; ++j) {
      echoed_.push_back(request.echo ? sanitize_utf8(prompt_texts[p], true) : std::string());
      choices_.emplace_back();
      choices_.back().offset_base = count_chars(echoed_.back());
    }
  }
}

std::string CompletionAnswer::token_text(int32_t token) const {
  if (!tokenizer_) return str(token);
  return sanitize_utf8(tokenizer_->token_bytes(token), true);
}

json CompletionAnswer::logprobs_json(const std::vector<TokenLogprob>& logprobs, std::size_t offset_base) const {
  json tokens = json::array(), token_logprobs = json::array(), top = json::array(), offsets = json::array();
  for (const TokenLogprob& lp : logprobs) {
    tokens.push_back(token_text(lp.token));
    token_logprobs.push_back(lp.logprob ? json(*lp.logprob) : json(nullptr));
    json alternatives = json::object();
    for (const auto& [id, value] : lp.top) alternatives[token_text(id)] = value;
    top.push_back(lp.logprob ? std::move(alternatives) : json(nullptr));
    offsets.push_back(lp.in_prompt ? lp.text_offset : offset_base + lp.text_offset);
  }
  return {{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top}, {"text_offset", offsets}};
}

json CompletionAnswer::chunk(int64_t index, const std::string& text, const json& logprobs, const json& finish) const {
  return {{"id", context_.id},
          {"object", "text_completion"},
          {"created", context_.created},
          {"model", context_.model},
          {"choices", json::array({{{"text", text}, {"index", index}, {"logprobs", logprobs}, {"finish_reason", finish}}})}};
}

void CompletionAnswer::record(const ChoiceUpdate& update, Choice& choice) {
  completion_tokens_ += static_cast<int64_t>(update.tokens.size());
  choice.text += update.text;
  choice.logprobs.insert(choice.logprobs.end(), update.logprobs.begin(), update.logprobs.end());
  if (update.finish) choice.finish = update.finish;
  if (update.finish == FinishReason::error && error_.empty()) error_ = update.error;
}

std::string CompletionAnswer::opening_events() {
  // With log-probabilities, the echoed prompt goes out with its own, when the engine has them.
  if (want_logprobs_) return {};
  std::string out;
  for (std::size_t i = 0; i < choices_.size(); ++i)
    if (!echoed_[i].empty()) out += sse_event(chunk(static_cast<int64_t>(i), echoed_[i], nullptr, nullptr));
  return out;
}

std::string CompletionAnswer::events(const std::vector<ChoiceUpdate>& updates) {
  std::string out;
  for (const ChoiceUpdate& update : updates) {
    Choice& choice = choices_.at(static_cast<std::size_t>(update.choice));
    record(update, choice);
    if (update.finish == FinishReason::error) {
      out += sse_event(error_body(ApiError(500, "generation failed: " + update.error)));
      continue;
    }
    const bool scored_prompt = !update.logprobs.empty() && update.logprobs.front().in_prompt;
    if (scored_prompt) {
      const auto index = static_cast<std::size_t>(update.choice);
      out += sse_event(chunk(update.choice, echoed_[index], logprobs_json(choice.logprobs, 0), nullptr));
      choice.logprobs.clear();
      continue;
    }
    // Tokens whose text is still held back wait, with their log-probabilities, for the next chunk.
    if (update.text.empty() && !update.finish) continue;
    const json logprobs = want_logprobs_ ? logprobs_json(choice.logprobs, choice.offset_base) : json(nullptr);
    out += sse_event(chunk(update.choice, update.text, logprobs, finish_json(update.finish)));
    choice.logprobs.clear();
  }
  return out;
}

std::string CompletionAnswer::closing_events() const {
  std::string out;
  if (include_usage_)
    out += sse_event({{"id", context_.id},
                      {"object", "text_completion"},
                      {"created", context_.created},
                      {"model", context_.model},
                      {"choices", json::array()},
                      {"usage",
                       {{"prompt_tokens", prompt_tokens_},
                        {"completion_tokens", completion_tokens_},
                        {"total_tokens", prompt_tokens_ + completion_tokens_}}}});
  return out + "data: [DONE]\n\n";
}

void CompletionAnswer::add(const std::vector<ChoiceUpdate>& updates) {
  for (const ChoiceUpdate& update : updates) record(update, choices_.at(static_cast<std::size_t>(update.choice)));
}

json CompletionAnswer::body() const {
  if (!error_.empty()) return error_body(ApiError(500, "generation failed: " + error_));
  json choices = json::array();
  for (std::size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    choices.push_back({{"text", echoed_[i] + c.text},
                       {"index", i},
                       {"logprobs", want_logprobs_ ? logprobs_json(c.logprobs, c.offset_base) : json(nullptr)},
                       {"finish_reason", finish_json(c.finish)}});
  }
  return {{"id", context_.id},
          {"object", "text_completion"},
          {"created", context_.created},
          {"model", context_.model},
          {"choices", choices},
          {"usage",
           {{"prompt_tokens", prompt_tokens_},
            {"completion_tokens", completion_tokens_},
            {"total_tokens", prompt_tokens_ + completion_tokens_}}}};
}

json error_body(const ApiError& error) {
  const char* type = error.status >= 500 ? "server_error" : "invalid_request_error";
  return {{"error",
           {{"message", error.what()},
            {"type", type},
            {"param", error.param.empty() ? json(nullptr) : json(error.param)},
            {"code", error.code.empty() ? json(nullptr) : json(error.code)}}}};
}

}  // namespace pthrun::serve
