#include "tools/server/completion_request.h"

#include <algorithm>
#include <cmath>

#include "runtime/error.h"
#include "runtime/json.h"
#include "tools/server/api_error.h"

namespace pthrun::serve {

using nlohmann::json;

namespace {

// A value for a message: its JSON, cut short.
std::string shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

ApiError bad_field(const std::string& name, const std::string& expected, const json& found) {
  return ApiError(400, str("'", name, "': expected ", expected, ", got ", shown(found)), name);
}

// The field, or null when absent or null (OpenAI treats both as "use the default").
const json* present(const json& body, const char* name) {
  const auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

int64_t integer_field(const json& body, const char* name, int64_t fallback, int64_t min, int64_t max) {
  const json* value = present(body, name);
  if (!value) return fallback;
  const std::string expected = str("an integer from ", min, " to ", max);
  if (!value->is_number_integer()) throw bad_field(name, expected, *value);
  if (value->is_number_unsigned() && value->get<uint64_t>() > static_cast<uint64_t>(max))
    throw bad_field(name, expected, *value);
  const auto n = value->get<int64_t>();
  if (n < min || n > max) throw bad_field(name, expected, *value);
  return n;
}

double number_field(const json& body, const char* name, double fallback, double min, double max) {
  const json* value = present(body, name);
  if (!value) return fallback;
  const std::string expected = str("a number from ", min, " to ", max);
  if (!value->is_number()) throw bad_field(name, expected, *value);
  const auto x = value->get<double>();
  if (!std::isfinite(x) || x < min || x > max) throw bad_field(name, expected, *value);
  return x;
}

bool bool_field(const json& body, const char* name, bool fallback) {
  const json* value = present(body, name);
  if (!value) return fallback;
  if (!value->is_boolean()) throw bad_field(name, "true or false", *value);
  return value->get<bool>();
}

std::vector<int32_t> token_list(const json& list, const std::string& name, int64_t vocab_size, std::size_t max_count) {
  if (list.size() > max_count) throw ApiError(400, str("'", name, "': more than ", max_count, " tokens"), name);
  std::vector<int32_t> ids;
  for (const json& id : list) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= vocab_size ||
        (id.is_number_unsigned() && id.get<uint64_t>() >= static_cast<uint64_t>(vocab_size)))
      throw bad_field(name, str("token ids from 0 to ", vocab_size - 1), id);
    ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
  }
  return ids;
}

std::vector<std::vector<int32_t>> read_prompts(const json& body, const CompletionLimits& limits,
                                               const std::function<std::vector<int32_t>(const std::string&)>& encode) {
  const json* prompt = present(body, "prompt");
  const std::string expected = "a string, a list of strings, a list of token ids or a list of lists of token ids";
  if (!prompt) throw ApiError(400, "'prompt' is required", "prompt");
  const auto max_tokens = static_cast<std::size_t>(limits.context);
  auto text = [&](const std::string& s) {
    std::vector<int32_t> ids = encode(s);
    if (ids.empty() && limits.empty_prompt_token) ids.push_back(*limits.empty_prompt_token);
    return ids;
  };
  std::vector<std::vector<int32_t>> prompts;
  if (prompt->is_string()) {
    prompts.push_back(text(prompt->get<std::string>()));
  } else if (prompt->is_array() && !prompt->empty()) {
    if ((*prompt)[0].is_number_integer()) {
      prompts.push_back(token_list(*prompt, "prompt", limits.vocab_size, max_tokens));
    } else {
      if (prompt->size() > static_cast<std::size_t>(limits.max_prompts))
        throw ApiError(400, str("'prompt': more than ", limits.max_prompts, " prompts in one request"), "prompt");
      for (const json& item : *prompt) {
        if (item.is_string()) prompts.push_back(text(item.get<std::string>()));
        else if (item.is_array()) prompts.push_back(token_list(item, "prompt", limits.vocab_size, max_tokens));
        else throw bad_field("prompt", expected, item);
      }
    }
  } else {
    throw bad_field("prompt", expected, *prompt);
  }
  for (const auto& ids : prompts)
    if (ids.empty()) throw ApiError(400, "'prompt': a list of token ids is empty", "prompt");
  return prompts;
}

std::vector<std::string> read_stops(const json& body) {
  const json* stop = present(body, "stop");
  if (!stop) return {};
  const std::string expected = "a string or a list of at most 4 non-empty strings of at most 256 bytes";
  std::vector<std::string> stops;
  if (stop->is_string()) stops.push_back(stop->get<std::string>());
  else if (stop->is_array() && stop->size() <= 4)
    for (const json& item : *stop) {
      if (!item.is_string()) throw bad_field("stop", expected, item);
      stops.push_back(item.get<std::string>());
    }
  else throw bad_field("stop", expected, *stop);
  for (const std::string& s : stops)
    if (s.empty() || s.size() > 256) throw bad_field("stop", expected, *stop);
  return stops;
}

// Parameters pthrun does not implement are refused unless they hold their default value.
void refuse_unsupported(const json& body, int64_t n) {
  auto refuse = [](const char* name) {
    throw ApiError(400, str("'", name, "' is not supported by this server (leave it out or at its default)"), name);
  };
  for (const char* penalty : {"presence_penalty", "frequency_penalty"})
    if (const json* value = present(body, penalty); value && !(value->is_number() && value->get<double>() == 0))
      refuse(penalty);
  if (const json* value = present(body, "best_of"); value && !(value->is_number_integer() && value->get<int64_t>() == n))
    refuse("best_of");
  if (const json* value = present(body, "logit_bias"); value && !(value->is_object() && value->empty()))
    refuse("logit_bias");
  if (const json* value = present(body, "suffix"); value && !(value->is_string() && value->get<std::string>().empty()))
    refuse("suffix");
}

}  // namespace

json parse_request_body(std::string_view body, const BodyLimits& limits) {
  if (body.size() > limits.max_bytes)
    throw ApiError(413, str("the request body has ", body.size(), " bytes, more than the limit of ", limits.max_bytes),
                   "", "request_too_large");
  // The bounded reader refuses deep nesting and oversized values while it parses, so a hostile
  // body is refused before it is built. A request has no use for huge arrays or objects.
  JsonLimits bounds;
  bounds.max_bytes = limits.max_bytes;
  bounds.max_depth = limits.max_depth;
  bounds.max_string_bytes = limits.max_bytes;
  bounds.max_items = limits.max_items;
  bounds.max_members = limits.max_items;
  json doc;
  try {
    doc = json(parse_json(body, bounds));
  } catch (const Error& e) {
    throw ApiError(400, str("the request body is not valid JSON: ", e.message()));
  }
  if (!doc.is_object()) throw ApiError(400, "the request body must be a JSON object");
  return doc;
}

CompletionRequest parse_completion(const json& body, const CompletionLimits& limits,
                                   const std::function<std::vector<int32_t>(const std::string&)>& encode) {
  static const char* const known[] = {"model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "seed",
                                      "stop", "stream", "stream_options", "logprobs", "echo", "n", "user",
                                      "best_of", "presence_penalty", "frequency_penalty", "logit_bias", "suffix"};
  for (const auto& [key, value] : body.items())
    if (std::find(std::begin(known), std::end(known), key) == std::end(known))
      throw ApiError(400, str("unrecognized request argument: '", key, "'"), key);

  CompletionRequest r;
  if (const json* model = present(body, "model")) {
    if (!model->is_string()) throw bad_field("model", "a string", *model);
    r.model = model->get<std::string>();
  }
  if (const json* user = present(body, "user"); user && !user->is_string()) throw bad_field("user", "a string", *user);
  r.n = integer_field(body, "n", 1, 1, limits.max_choices);
  refuse_unsupported(body, r.n);
  r.max_tokens = integer_field(body, "max_tokens", 16, 0, limits.context);
  r.sampling.temperature = static_cast<float>(number_field(body, "temperature", 1, 0, 2));
  r.sampling.top_p = static_cast<float>(number_field(body, "top_p", 1, 0, 1));
  r.sampling.top_k = static_cast<int>(integer_field(body, "top_k", 0, 0, limits.vocab_size));
  if (const json* seed = present(body, "seed")) {
    if (!seed->is_number_integer()) throw bad_field("seed", "an integer", *seed);
    r.seed = seed->is_number_unsigned() ? seed->get<uint64_t>() : static_cast<uint64_t>(seed->get<int64_t>());
  }
  r.stop = read_stops(body);
  r.stream = bool_field(body, "stream", false);
  if (const json* options = present(body, "stream_options")) {
    if (!options->is_object() || !r.stream)
      throw bad_field("stream_options", "an object, with stream true", *options);
    for (const auto& [key, value] : options->items())
      if (key != "include_usage") throw ApiError(400, str("unrecognized stream option: '", key, "'"), "stream_options");
    r.include_usage = bool_field(*options, "include_usage", false);
  }
  r.logprobs = integer_field(body, "logprobs", -1, 0, 5);
  r.echo = bool_field(body, "echo", false);

  r.prompts = read_prompts(body, limits, encode);
  for (const auto& prompt : r.prompts) {
    const auto n = static_cast<int64_t>(prompt.size());
    if (n + r.max_tokens > limits.context)
      throw ApiError(400, str("the context holds ", limits.context, " tokens, but ", n + r.max_tokens, " were asked for (",
                              n, " in the prompt, ", r.max_tokens, " for the completion)"),
                     n > limits.context ? "prompt" : "max_tokens", "context_length_exceeded");
  }
  return r;
}

std::string string_field(const json& body, const char* name) {
  const json* value = present(body, name);
  if (!value) throw ApiError(400, str("'", name, "' is required"), name);
  if (!value->is_string()) throw bad_field(name, "a string", *value);
  return value->get<std::string>();
}

std::vector<int32_t> token_ids_field(const json& body, const char* name, int64_t vocab_size, std::size_t max_count) {
  const json* value = present(body, name);
  if (!value) throw ApiError(400, str("'", name, "' is required"), name);
  if (!value->is_array()) throw bad_field(name, "a list of token ids", *value);
  return token_list(*value, name, vocab_size, max_count);
}

}  // namespace pthrun::serve
