// pthrun serve's parts without HTTP: the text released to clients (UTF-8 never split, stop
// strings cut), the request reader (limits, types, ranges, refused parameters), and the engine
// on the CPU with a tiny real-PyTorch GPT-2 — jobs batched together, several choices sharing
// one prefill, cancelled jobs, a full queue — each job's tokens compared with the same job run
// alone in a session of one slot, and the allocator back at its baseline afterwards; and the
// HTTP server before its model is loaded.
#include <doctest/doctest.h>
#include <httplib.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "model/gpt2.h"
#include "model/session.h"
#include "runtime/allocator.h"
#include "runtime/file_util.h"
#include "runtime/json.h"
#include "tests/model_fixture.h"
#include "tests/test_util.h"
#include "tools/server/api_error.h"
#include "tools/server/completion_request.h"
#include "tools/server/engine.h"
#include "tools/server/server.h"
#include "tools/text_release.h"

using namespace pthrun;
using namespace pthrun::serve;
using nlohmann::json;
using pthrun::test::fixture;
using pthrun::test::load_model_fixture;

namespace {

std::vector<int32_t> prompt(int64_t length, int32_t salt, int64_t vocab) {
  std::vector<int32_t> ids(static_cast<std::size_t>(length));
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 37 + salt * 11 + 3) % vocab);
  return ids;
}

// The job's choice `choice` alone: a session of one slot, the same sampler.
// Decodes `slot` with the other slots idle, drawing after each step, until `tokens` (the slot's
// draws so far, the last one not yet decoded) holds n.
void decode_alone(Session& session, int64_t slot, std::vector<int32_t>& tokens, int64_t n) {
  std::vector<bool> active(static_cast<std::size_t>(session.slots()), false);
  active[static_cast<std::size_t>(slot)] = true;
  std::vector<int32_t> next(active.size(), 0);
  while (static_cast<int64_t>(tokens.size()) < n) {
    next[static_cast<std::size_t>(slot)] = tokens.back();
    session.decode(next, active);
    tokens.push_back(session.sample(active)[static_cast<std::size_t>(slot)]);
  }
}

std::vector<int32_t> run_alone(const std::shared_ptr<const Gpt2Model>& model, const Job& job, int64_t choice) {
  Session session(model, {.slots = 1, .max_tokens = model->config().context});
  session.set_sampling(0, {job.sampling, job.seed, static_cast<uint64_t>(choice)});
  session.prefill(0, job.prompt);
  std::vector<int32_t> out = {session.sample()[0]};
  decode_alone(session, 0, out, job.max_tokens);
  return out;
}

// Every update of a channel until it is done, tokens gathered per choice.
struct Collected {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<FinishReason> finish;
};
Collected collect(JobChannel& channel, int64_t choices) {
  Collected c{std::vector<std::vector<int32_t>>(static_cast<std::size_t>(choices)),
              std::vector<FinishReason>(static_cast<std::size_t>(choices), FinishReason::error)};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!channel.done() && std::chrono::steady_clock::now() < deadline)
    for (const ChoiceUpdate& u : channel.take(std::chrono::milliseconds(20))) {
      auto& tokens = c.tokens.at(static_cast<std::size_t>(u.choice));
      tokens.insert(tokens.end(), u.tokens.begin(), u.tokens.end());
      if (u.finish) c.finish.at(static_cast<std::size_t>(u.choice)) = *u.finish;
    }
  REQUIRE(channel.done());
  return c;
}

bool wait_until(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!condition())
    if (std::chrono::steady_clock::now() > deadline) return false;
    else std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return true;
}

std::string released(TextRelease& text, const std::vector<std::string>& pieces, bool* stopped = nullptr) {
  std::string out;
  for (const std::string& piece : pieces) {
    TextRelease::Step step = text.add(piece);
    out += step.text;
    if (step.stopped) {
      if (stopped) *stopped = true;
      return out;
    }
  }
  return out + text.flush();
}

}  // namespace

TEST_CASE("released text never splits a UTF-8 character and replaces bytes that can never form one") {
  TextRelease text;
  // "é" is C3 A9, "€" E2 82 AC: tokens that end mid-character release nothing until completed.
  CHECK(text.add("caf\xC3").text == "caf");
  CHECK(text.add("\xA9 ").text == "\xC3\xA9 ");
  CHECK(text.add("\xE2").text.empty());
  CHECK(text.add("\x82").text.empty());
  CHECK(text.add("\xAC!").text == "\xE2\x82\xAC!");
  // A lone continuation byte, a byte never valid and an interrupted sequence each become one U+FFFD.
  CHECK(text.add("\x80" "a\xFF" "b\xE2\x82" "c").text == "\xEF\xBF\xBD" "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c");
  // What is still held at the end is flushed as U+FFFD, never as a broken character.
  CHECK(text.add("\xF0\x9F").text.empty());
  CHECK(text.flush() == "\xEF\xBF\xBD");
  CHECK(text.released_chars() == 4 + 2 + 2 + 5 + 1);
  CHECK(sanitize_utf8("\xED\xA0\x80", true) == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
}

TEST_CASE("stop strings: the text before the first one is released, the stop string and the rest never") {
  bool stopped = false;
  TextRelease one({"\n\n"});
  CHECK(released(one, {"Hello", "\n", "\nWorld"}, &stopped) == "Hello");
  CHECK(stopped);

  // A prefix of a stop string is held back until it is known not to be one.
  TextRelease held({"END"});
  CHECK(held.add("theE").text == "the");
  CHECK(held.add("N").text.empty());
  CHECK(held.add("D?").stopped);

  TextRelease not_stop({"END"});
  stopped = false;
  CHECK(released(not_stop, {"E", "N", "x", "EN"}, &stopped) == "ENxEN");
  CHECK_FALSE(stopped);

  // The earliest of several stop strings wins, and a stop string may start the text.
  TextRelease several({"world", "lo"});
  CHECK(released(several, {"hello world"}) == "hel");
  TextRelease first({"ab"});
  stopped = false;
  CHECK(released(first, {"a", "bc"}, &stopped).empty());
  CHECK(stopped);
}

TEST_CASE("request bodies: size, nesting depth, items, duplicate keys, UTF-8 and the top level are checked") {
  CHECK(parse_request_body(R"({"a": [1, {"b": "x"}]})").at("a").size() == 2);
  auto status_of = [](const std::string& body, const BodyLimits& limits = {}) {
    try {
      parse_request_body(body, limits);
      return 0;
    } catch (const ApiError& e) {
      return e.status;
    }
  };
  CHECK(status_of(std::string(2000, ' ') + "{}", {.max_bytes = 1000}) == 413);
  CHECK(status_of("{\"a\": [1, 2") == 400);
  CHECK(status_of("[1]") == 400);
  CHECK(status_of("{\"s\": \"\xC3\x28\"}") == 400);        // invalid UTF-8 in a string
  CHECK(status_of("{\"s\": \"\xED\xA0\x80\"}") == 400);    // an encoded surrogate
  CHECK(status_of("{\"x\": 1e999}") == 400);
  std::string deep = "{\"a\": ";
  for (int i = 0; i < 100000; ++i) deep += "[";
  CHECK(status_of(deep) == 400);  // refused at depth 16, long before the end
  std::string fine = "{\"a\": ";
  for (int i = 0; i < 10; ++i) fine += "[";
  fine += std::string(10, ']') + "}";
  CHECK(status_of(fine) == 0);
  CHECK(status_of(R"({"a": 1, "a": 2})") == 400);  // a duplicate key
  std::string wide = "{\"a\": [";
  for (int i = 0; i < 200; ++i) wide += "0,";
  wide += "0]}";
  CHECK(status_of(wide, {.max_items = 200}) == 400);
  CHECK(status_of(wide, {.max_items = 201}) == 0);
}

TEST_CASE("completion requests: each field's type and range, refused parameters and the context, named") {
  const CompletionLimits limits{.context = 64, .vocab_size = 96, .max_choices = 4, .max_prompts = 8,
                                .empty_prompt_token = 95};
  auto encode = [](const std::string& text) {
    std::vector<int32_t> ids;
    for (char c : text) ids.push_back(static_cast<unsigned char>(c) % 96);
    return ids;
  };
  auto parse = [&](const std::string& body) { return parse_completion(json::parse(body), limits, encode); };
  auto param_of = [&](const std::string& body) {
    try {
      parse(body);
      return std::string("(accepted)");
    } catch (const ApiError& e) {
      CHECK(e.status == 400);
      return e.param;
    }
  };

  const CompletionRequest r = parse(R"({"model": "m", "prompt": "ab", "max_tokens": 5, "temperature": 0,
      "top_p": 0.5, "top_k": 3, "seed": 18446744073709551615, "stop": ["x", "yz"], "stream": true,
      "stream_options": {"include_usage": true}, "logprobs": 2, "n": 3, "user": "u", "best_of": 3,
      "presence_penalty": 0, "frequency_penalty": 0.0, "logit_bias": {}})");
  CHECK(r.prompts == std::vector<std::vector<int32_t>>{{97 % 96, 98 % 96}});
  CHECK(r.max_tokens == 5);
  CHECK(r.n == 3);
  CHECK(r.sampling.temperature == 0);
  CHECK(r.sampling.top_k == 3);
  CHECK(r.seed == UINT64_MAX);
  CHECK(r.stop == std::vector<std::string>{"x", "yz"});
  CHECK(r.include_usage);
  CHECK(r.logprobs == 2);
  // Defaults are OpenAI's: 16 tokens, temperature 1.
  const CompletionRequest d = parse(R"({"prompt": [[1, 2], [3], "", "c"]})");
  CHECK(d.max_tokens == 16);
  CHECK(d.sampling.temperature == 1);
  CHECK(d.prompts == std::vector<std::vector<int32_t>>{{1, 2}, {3}, {95}, {99 % 96}});
  // Scoring a prompt, as evaluation harnesses do: echo with log-probabilities and no new token.
  const CompletionRequest scored = parse(R"({"prompt": [[1, 2, 3]], "echo": true, "logprobs": 1, "max_tokens": 0})");
  CHECK(scored.echo);
  CHECK(scored.logprobs == 1);
  CHECK(scored.max_tokens == 0);

  CHECK(param_of(R"({"prompt": "a", "max_tokens": -1})") == "max_tokens");
  CHECK(param_of(R"({"prompt": "a", "max_tokens": 1e30})") == "max_tokens");
  CHECK(param_of(R"({"prompt": "a", "max_tokens": 99999999999999999999999})") == "max_tokens");
  CHECK(param_of(R"({"prompt": "a", "max_tokens": "5"})") == "max_tokens");
  CHECK(param_of(R"({"prompt": "a", "max_tokens": 64})") == "max_tokens");  // 1 + 64 > the context
  CHECK(param_of(R"({"prompt": "a", "temperature": 2.5})") == "temperature");
  CHECK(param_of(R"({"prompt": "a", "temperature": true})") == "temperature");
  CHECK(param_of(R"({"prompt": "a", "top_p": -0.1})") == "top_p");
  CHECK(param_of(R"({"prompt": "a", "n": 0})") == "n");
  CHECK(param_of(R"({"prompt": "a", "n": 5})") == "n");
  CHECK(param_of(R"({"prompt": "a", "logprobs": 6})") == "logprobs");
  CHECK(param_of(R"({"prompt": "a", "stop": ["a", "b", "c", "d", "e"]})") == "stop");
  CHECK(param_of(R"({"prompt": "a", "stop": [""]})") == "stop");
  CHECK(param_of(R"({"prompt": "a", "stop": 3})") == "stop");
  CHECK(param_of(R"({"prompt": "a", "seed": 1.5})") == "seed");
  CHECK(param_of(R"({"prompt": "a", "stream": "yes"})") == "stream");
  CHECK(param_of(R"({"prompt": "a", "stream_options": {"include_usage": true}})") == "stream_options");
  CHECK(param_of(R"({"prompt": "a", "best_of": 2})") == "best_of");
  CHECK(param_of(R"({"prompt": "a", "presence_penalty": 0.5})") == "presence_penalty");
  CHECK(param_of(R"({"prompt": "a", "frequency_penalty": 1})") == "frequency_penalty");
  CHECK(param_of(R"({"prompt": "a", "logit_bias": {"5": 1}})") == "logit_bias");
  CHECK(param_of(R"({"prompt": "a", "suffix": "z"})") == "suffix");
  CHECK(param_of(R"({"prompt": "a", "temprature": 1})") == "temprature");
  CHECK(param_of(R"({"max_tokens": 1})") == "prompt");
  CHECK(param_of(R"({"prompt": []})") == "prompt");
  CHECK(param_of(R"({"prompt": [[]]})") == "prompt");
  CHECK(param_of(R"({"prompt": [1, 96]})") == "prompt");
  CHECK(param_of(R"({"prompt": [1, -1]})") == "prompt");
  CHECK(param_of(R"({"prompt": [1, "a"]})") == "prompt");
  CHECK(param_of(R"({"prompt": [{"a": 1}]})") == "prompt");
  CHECK(param_of(R"({"prompt": 5})") == "prompt");
  CHECK(param_of(R"({"prompt": ["a", "b", "c", "d", "e", "f", "g", "h", "i"]})") == "prompt");
  CHECK(param_of(R"({"prompt": "a", "model": 5})") == "model");
}

TEST_CASE("Session::copy_slot: a copied slot continues exactly as the prompt prefilled there itself") {
  const auto model = load_model_fixture("book_qkv");
  const int64_t V = model->config().vocab_size;
  const Job job{.prompt = prompt(9, 4, V), .max_tokens = 7, .sampling = {.temperature = 0.9f}, .seed = 5};
  Session session(model, {.slots = 3});
  session.prefill(1, prompt(5, 1, V));  // slot 2 held something else before
  session.prefill(2, prompt(12, 2, V));
  session.prefill(0, job.prompt);
  session.copy_slot(0, 2);
  CHECK(session.length(2) == 9);
  session.set_sampling(2, {job.sampling, job.seed, 1});
  std::vector<int32_t> got = {session.sample()[2]};
  decode_alone(session, 2, got, job.max_tokens);
  CHECK(got == run_alone(model, job, 1));
}

TEST_CASE("Session::move_slot: a slot moved in the middle of its request goes on exactly as alone") {
  const auto model = load_model_fixture("book_qkv");
  const int64_t V = model->config().vocab_size;
  const Job job{.prompt = prompt(7, 4, V), .max_tokens = 12, .sampling = {.temperature = 1.3f}, .seed = 9};
  Session session(model, {.slots = 3});
  session.prefill(0, prompt(5, 1, V));  // slot 0 held something else before
  session.prefill(2, job.prompt);
  session.set_sampling(2, {job.sampling, job.seed, 0});
  std::vector<int32_t> got = {session.sample()[2]};
  decode_alone(session, 2, got, 5);  // 4 steps: the sampler's steps must move with the slot
  session.move_slot(2, 0);
  CHECK(session.length(2) == 0);
  CHECK(session.length(0) == 7 + 4);
  decode_alone(session, 0, got, job.max_tokens);
  CHECK(got == run_alone(model, job, 0));
}

TEST_CASE("the engine batches jobs, shares a prompt's prefill among its choices, and gives each its tokens alone") {
  const auto model = load_model_fixture("book_qkv");
  const int64_t V = model->config().vocab_size;
  Allocator& allocator = device_allocator(cpu_device);
  std::vector<Job> jobs = {
      {.prompt = prompt(5, 1, V), .max_tokens = 9},
      {.prompt = prompt(11, 2, V), .max_tokens = 14, .choices = 3, .sampling = {.temperature = 0.9f, .top_k = 10}, .seed = 42},
      {.prompt = prompt(3, 3, V), .max_tokens = 6, .sampling = {.temperature = 1.1f, .top_p = 0.8f}, .seed = 7},
      {.prompt = prompt(8, 4, V), .max_tokens = 12, .top_logprobs = 3},
      {.prompt = prompt(2, 5, V), .max_tokens = 10, .choices = 2, .sampling = {.temperature = 0.7f}, .seed = 42},
      {.prompt = prompt(6, 6, V), .max_tokens = 1},
  };
  std::vector<std::vector<std::vector<int32_t>>> alone;
  for (const Job& job : jobs) {
    alone.emplace_back();
    for (int64_t c = 0; c < job.choices; ++c) alone.back().push_back(run_alone(model, job, c));
  }

  {
    Engine engine(model, nullptr, {.slots = 4, .max_queue = 16}, nullptr);
    const int64_t baseline = allocator.stats().allocated_bytes[all_pools].current;
    std::vector<std::shared_ptr<JobChannel>> channels;
    for (const Job& job : jobs) {  // one at a time, so that later ones arrive while earlier ones run
      channels.push_back(std::make_shared<JobChannel>(job.choices));
      REQUIRE(engine.submit({{job, channels.back()}}) == Submit::queued);
    }
    for (std::size_t j = 0; j < jobs.size(); ++j) {
      CAPTURE(j);
      const Collected got = collect(*channels[j], jobs[j].choices);
      CHECK(got.tokens == alone[j]);
      for (FinishReason reason : got.finish) CHECK(reason == FinishReason::length);
    }
    CHECK(wait_until([&] { return engine.idle() && engine.active_slots() == 0; }));
    // Logits copied for log-probabilities and everything else the steps made are gone again.
    CHECK(allocator.stats().allocated_bytes[all_pools].current == baseline);
  }
}

TEST_CASE("a request left alone in a high slot moves down once the slots below stay free, and keeps its tokens") {
  const Gpt2Config config{.vocab_size = 96, .context = 256, .channels = 64, .layers = 2, .heads = 2};
  ModelOptions options;
  options.device = cpu_device;
  const auto model = Gpt2Model::create_random(config, options, 5);
  const int64_t V = model->config().vocab_size;
  // One prefill a step: the short jobs take slots 0-2 and the long one slot 3; they finish while
  // it runs, and two steps after the first of them it moves to slot 0.
  const Job short_job{.prompt = prompt(4, 1, V), .max_tokens = 6};
  const Job long_job{.prompt = prompt(9, 2, V), .max_tokens = 40, .sampling = {.temperature = 1.2f}, .seed = 3};
  Engine engine(model, nullptr, {.slots = 4, .max_queue = 8}, nullptr);
  std::vector<std::pair<Job, std::shared_ptr<JobChannel>>> jobs;
  for (int k = 0; k < 3; ++k) jobs.emplace_back(short_job, std::make_shared<JobChannel>(1));
  jobs.emplace_back(long_job, std::make_shared<JobChannel>(1));
  REQUIRE(engine.submit(jobs) == Submit::queued);
  for (int k = 0; k < 3; ++k)
    CHECK(collect(*jobs[static_cast<std::size_t>(k)].second, 1).tokens[0] == run_alone(model, short_job, 0));
  const Collected got = collect(*jobs[3].second, 1);
  CHECK(got.tokens[0] == run_alone(model, long_job, 0));
  CHECK(got.finish[0] == FinishReason::length);
  CHECK(engine.slot_moves() == 1);
  CHECK(wait_until([&] { return engine.idle() && engine.active_slots() == 0; }));
}

TEST_CASE("log-probabilities: the chosen token's is log_softmax of its logits, the top ones sorted, greedy picks the top") {
  const auto model = load_model_fixture("hf_tied");
  const int64_t V = model->config().vocab_size;
  const Job job{.prompt = prompt(7, 8, V), .max_tokens = 1, .sampling = {.temperature = 0}, .top_logprobs = 5};
  const Tensor logits = model->forward(job.prompt);  // (T, V): independent of the engine's path
  const std::vector<float> all = logits.to_floats();
  const float* last = all.data() + (static_cast<int64_t>(job.prompt.size()) - 1) * V;
  double sum = 0;
  int32_t best = 0;
  for (int64_t v = 0; v < V; ++v) {
    sum += std::exp(static_cast<double>(last[v]));
    if (last[v] > last[best]) best = static_cast<int32_t>(v);
  }
  Engine engine(model, nullptr, {.slots = 2, .max_queue = 4}, nullptr);
  auto channel = std::make_shared<JobChannel>(1);
  REQUIRE(engine.submit({{job, channel}}) == Submit::queued);
  std::vector<ChoiceUpdate> updates;
  while (!channel->done())
    for (ChoiceUpdate& u : channel->take(std::chrono::milliseconds(20))) updates.push_back(std::move(u));
  REQUIRE(updates.size() == 1);
  REQUIRE(updates[0].logprobs.size() == 1);
  const TokenLogprob& lp = updates[0].logprobs[0];
  CHECK(lp.token == best);
  CHECK(lp.logprob == doctest::Approx(last[best] - std::log(sum)).epsilon(1e-5));
  REQUIRE(lp.top.size() == 5);
  CHECK(lp.top[0].first == best);
  for (std::size_t i = 1; i < lp.top.size(); ++i) CHECK(lp.top[i].second <= lp.top[i - 1].second);
}

TEST_CASE("echo with log-probabilities: every prompt token but the first is scored by the position before it") {
  const auto model = load_model_fixture("hf_tied");
  const int64_t V = model->config().vocab_size;
  const std::vector<int32_t> tokens = prompt(9, 4, V);
  const std::vector<float> all = model->forward(tokens).to_floats();  // (T, V), independent of the engine
  auto log_softmax_at = [&](int64_t position, int32_t token) {
    const float* row = all.data() + position * V;
    double sum = 0;
    for (int64_t v = 0; v < V; ++v) sum += std::exp(static_cast<double>(row[v]));
    return row[token] - std::log(sum);
  };
  Engine engine(model, nullptr, {.slots = 3, .max_queue = 4}, nullptr);
  auto run = [&](const Job& job) {
    auto channel = std::make_shared<JobChannel>(job.choices);
    REQUIRE(engine.submit({{job, channel}}) == Submit::queued);
    std::vector<ChoiceUpdate> updates;
    while (!channel->done())
      for (ChoiceUpdate& u : channel->take(std::chrono::milliseconds(20))) updates.push_back(std::move(u));
    return updates;
  };
  for (const int64_t max_tokens : {0, 3}) {
    CAPTURE(max_tokens);
    const Job job{.prompt = tokens, .max_tokens = max_tokens, .choices = 2, .sampling = {.temperature = 0},
                  .top_logprobs = 2, .prompt_logprobs = true};
    const std::vector<ChoiceUpdate> updates = run(job);
    for (int64_t choice = 0; choice < 2; ++choice) {
      std::vector<TokenLogprob> scored;
      for (const ChoiceUpdate& u : updates)
        if (u.choice == choice) scored.insert(scored.end(), u.logprobs.begin(), u.logprobs.end());
      REQUIRE(scored.size() == tokens.size() + static_cast<std::size_t>(max_tokens));
      CHECK_FALSE(scored[0].logprob.has_value());
      CHECK(scored[0].top.empty());
      for (std::size_t i = 0; i < tokens.size(); ++i) {
        CAPTURE(i);
        CHECK(scored[i].in_prompt);
        CHECK(scored[i].token == tokens[i]);
        if (i > 0) {
          REQUIRE(scored[i].logprob.has_value());
          CHECK(*scored[i].logprob == doctest::Approx(log_softmax_at(static_cast<int64_t>(i) - 1, tokens[i])).epsilon(1e-5));
          REQUIRE(scored[i].top.size() == 2);
          CHECK(scored[i].top[0].second >= scored[i].top[1].second);
        }
      }
      for (std::size_t i = tokens.size(); i < scored.size(); ++i) CHECK_FALSE(scored[i].in_prompt);
    }
    // Scoring the prompt does not change what follows it.
    if (max_tokens > 0) {
      Job plain = job;
      plain.prompt_logprobs = false;
      std::vector<int32_t> with, without;
      for (const ChoiceUpdate& u : updates)
        if (u.choice == 0) with.insert(with.end(), u.tokens.begin(), u.tokens.end());
      for (const ChoiceUpdate& u : run(plain))
        if (u.choice == 0) without.insert(without.end(), u.tokens.begin(), u.tokens.end());
      CHECK(with == without);
    }
    CHECK(updates.back().finish == FinishReason::length);
  }
}

TEST_CASE("a cancelled job frees its slots at the next step; a full queue refuses all of a submission") {
  // Random weights, but a long context: the long job runs for a second or more, so it is still
  // running when it is cancelled.
  const Gpt2Config config{.vocab_size = 96, .context = 1024, .channels = 256, .layers = 4, .heads = 4};
  ModelOptions options;
  options.device = cpu_device;
  const auto model = Gpt2Model::create_random(config, options, 3);
  const int64_t V = model->config().vocab_size;
  Engine engine(model, nullptr, {.slots = 1, .max_queue = 2}, nullptr);
  const Job long_job{.prompt = prompt(4, 1, V), .max_tokens = 1000};
  auto running = std::make_shared<JobChannel>(1);
  REQUIRE(engine.submit({{long_job, running}}) == Submit::queued);
  REQUIRE(wait_until([&] { return engine.active_slots() == 1; }));

  auto a = std::make_shared<JobChannel>(1), b = std::make_shared<JobChannel>(1), c = std::make_shared<JobChannel>(1);
  const Job short_job{.prompt = prompt(3, 2, V), .max_tokens = 3};
  REQUIRE(engine.submit({{short_job, a}, {short_job, b}}) == Submit::queued);
  CHECK(engine.submit({{short_job, c}}) == Submit::queue_full);
  CHECK(engine.queued() == 2);

  running->cancel();
  const Collected cancelled = collect(*running, 1);
  CHECK(cancelled.finish[0] == FinishReason::cancelled);
  CHECK(cancelled.tokens[0].size() < 1000);
  CHECK(collect(*a, 1).tokens[0] == run_alone(model, short_job, 0));
  CHECK(collect(*b, 1).tokens[0] == run_alone(model, short_job, 0));
  CHECK(wait_until([&] { return engine.idle(); }));

  engine.close();
  CHECK(engine.submit({{short_job, c}}) == Submit::closed);
}

TEST_CASE("while the model loads, /health and the API answer 503 with a JSON reason; the page is there") {
  Server server({.host = "127.0.0.1", .port = 0, .http_threads = 2});
  const int port = server.bind();
  server.start();
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);
  const auto health = client.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 503);
  const json body = json::parse(health->body);
  CHECK(body.at("status") == "loading");
  CHECK(body.at("error").at("message") == "the model is loading");
  const auto completion = client.Post("/v1/completions", R"({"prompt": "a"})", "application/json");
  REQUIRE(completion);
  CHECK(completion->status == 503);
  CHECK(json::parse(completion->body).at("error").at("code") == "loading");
  const auto page = client.Get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->body.find("<canvas id=\"memory\">") != std::string::npos);
  server.shutdown(std::chrono::milliseconds(0));
  CHECK_FALSE(httplib::Client("127.0.0.1", port).Get("/health"));  // no longer accepting
}
