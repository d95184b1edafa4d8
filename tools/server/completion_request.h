// Reading a request: the body as untrusted JSON (size, nesting depth and UTF-8 checked), and
// a completion request as OpenAI defines it, every field's type and range checked.
//
//   nlohmann::json body = parse_request_body(req.body, {.max_bytes = 1 << 20});
//   CompletionRequest r = parse_completion(body, limits, encode);  // ApiError 400 naming the field
//
// parse_request_body is the one place a body becomes JSON: runtime/json.h's bounded reader.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/sampling.h"

namespace pthrun::serve {

struct BodyLimits {
  std::size_t max_bytes = 1 << 20;  // larger: 413
  int max_depth = 16;               // arrays and objects inside each other
  std::size_t max_items = 1 << 16;  // elements of one array, members of one object
};

// Throws ApiError: 413 over the size, 400 for malformed JSON, too deep nesting, too many
// items, invalid UTF-8, duplicate keys, or a top level that is not an object.
nlohmann::json parse_request_body(std::string_view body, const BodyLimits& limits = {});

struct CompletionLimits {
  int64_t context = 1024;           // prompt + max_tokens must fit
  int64_t vocab_size = 50257;       // token ids below this
  int64_t max_choices = 4;          // n: the engine's slots
  int64_t max_prompts = 64;         // prompts in one request
  std::optional<int32_t> empty_prompt_token;  // what "" becomes (<|endoftext|>, as OpenAI)
};

struct CompletionRequest {
  std::string model;
  std::vector<std::vector<int32_t>> prompts;  // each non-empty
  int64_t max_tokens = 16;
  int64_t n = 1;
  kernels::SamplingParams sampling{.temperature = 1};
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  int64_t logprobs = -1;  // < 0: none
  bool echo = false;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// `encode` turns a text prompt into ids; it is called on this thread.
CompletionRequest parse_completion(const nlohmann::json& body, const CompletionLimits& limits,
                                   const std::function<std::vector<int32_t>(const std::string&)>& encode);

// Shared by /tokenize and /detokenize: `body[name]` as a string / as token ids below vocab_size.
std::string string_field(const nlohmann::json& body, const char* name);
std::vector<int32_t> token_ids_field(const nlohmann::json& body, const char* name, int64_t vocab_size,
                                     std::size_t max_count);

}  // namespace pthrun::serve
