// POST /v1/completions: parse and check the request, queue one engine job per prompt, then
// stream what the engine produces back — as server-sent events, or as one JSON object at the
// end. The response goes out chunked in both cases, so that the HTTP thread notices a client
// that went away (the socket reads as closed) while it waits, and cancels the job: the
// engine frees its slots at its next step.
#include <chrono>
#include <ctime>
#include <random>

#include "runtime/error.h"
#include "tools/server/api_error.h"
#include "tools/server/completion_request.h"
#include "tools/server/completion_response.h"
#include "tools/server/server_state.h"

namespace pthrun::serve {

using nlohmann::json;

namespace {

// How long the HTTP thread waits for the engine before checking its client again.
constexpr std::chrono::milliseconds kPollInterval{20};

uint64_t random_u64() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

std::string completion_id() {
  char text[24];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(random_u64()));
  return std::string("cmpl-") + text;
}

}  // namespace

void handle_completion(Server::State& state, Backend& backend, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_request_body(req.body, {.max_bytes = state.options.max_body_bytes});
  Engine& engine = *backend.engine;
  const CompletionLimits limits{.context = engine.context(),
                                .vocab_size = backend.model->config().vocab_size,
                                .max_choices = engine.slots(),
                                .max_prompts = engine.max_queue(),
                                .empty_prompt_token = backend.tokenizer.eot_id()};
  const CompletionRequest request =
      parse_completion(body, limits, [&backend](const std::string& text) { return backend.encode(text); });

  // Without a seed, each request draws its own: its tokens still do not depend on its neighbours.
  const uint64_t seed = request.seed.value_or(random_u64());
  const auto choices = static_cast<int64_t>(request.prompts.size()) * request.n;
  auto channel = std::make_shared<JobChannel>(choices);
  std::vector<std::pair<Job, std::shared_ptr<JobChannel>>> jobs;
  std::vector<std::string> prompt_texts;
  for (std::size_t p = 0; p < request.prompts.size(); ++p) {
    jobs.push_back({Job{.prompt = request.prompts[p],
                        .max_tokens = request.max_tokens,
                        .choices = request.n,
                        .first_choice = static_cast<int64_t>(p) * request.n,
                        .sampling = request.sampling,
                        .seed = seed,
                        .stop = request.stop,
                        .top_logprobs = request.logprobs,
                        .prompt_logprobs = request.echo},
                    channel});
    prompt_texts.push_back(request.echo ? backend.tokenizer.decode(request.prompts[p]) : std::string());
  }
  switch (engine.submit(std::move(jobs))) {
    case Submit::queued: break;
    case Submit::queue_full:
      res.set_header("Retry-After", "1");
      throw ApiError(503, str("the server is busy: its queue of ", engine.max_queue(), " requests is full; retry later"),
                     "", "overloaded");
    case Submit::closed: throw ApiError(503, "the server is shutting down", "", "shutting_down");
  }

  auto answer = std::make_shared<CompletionAnswer>(
      ResponseContext{completion_id(), static_cast<int64_t>(std::time(nullptr)),
                      request.model.empty() ? backend.model_name : request.model},
      request, std::move(prompt_texts), &backend.tokenizer);
  current_request_log().prompt_tokens = answer->prompt_tokens();
  const bool stream = request.stream;
  auto provider = [channel, answer, stream, opened = false](std::size_t, httplib::DataSink& sink) mutable {
    auto write = [&sink](const std::string& text) { return text.empty() || sink.write(text.data(), text.size()); };
    if (!sink.is_writable()) return false;  // the client went away: the releaser cancels
    if (stream && !opened && !write(answer->opening_events())) return false;
    opened = true;
    const std::vector<ChoiceUpdate> updates = channel->take(kPollInterval);
    if (stream) {
      if (!write(answer->events(updates))) return false;
    } else {
      answer->add(updates);
    }
    if (channel->done()) {
      RequestLog& log = current_request_log();
      log.generated_tokens = answer->completion_tokens();
      log.first_token_seconds = channel->first_token_seconds();
      if (!write(stream ? answer->closing_events()
                        : answer->body().dump(-1, ' ', false, json::error_handler_t::replace)))
        return false;
      sink.done();
    }
    return true;
  };
  if (stream) {
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
  }
  // However the response ends (finished, write failed, client gone), the job stops.
  res.set_chunked_content_provider(stream ? "text/event-stream" : "application/json", std::move(provider),
                                   [channel](bool) { channel->cancel(); });
}

}  // namespace pthrun::serve
