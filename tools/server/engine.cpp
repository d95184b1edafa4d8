#include "tools/server/engine.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "runtime/error.h"

namespace pthrun::serve {

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::stop: return "stop";
    case FinishReason::length: return "length";
    case FinishReason::cancelled: return "cancelled";
    case FinishReason::error: return "error";
  }
  return "?";
}

void JobChannel::push(ChoiceUpdate update) {
  {
    std::lock_guard lock(mutex_);
    if (update.finish) --open_choices_;
    updates_.push_back(std::move(update));
  }
  ready_.notify_all();
}

std::vector<ChoiceUpdate> JobChannel::take(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  ready_.wait_for(lock, timeout, [this] { return !updates_.empty(); });
  return std::exchange(updates_, {});
}

bool JobChannel::done() const {
  std::lock_guard lock(mutex_);
  return open_choices_ <= 0 && updates_.empty();
}

Engine::Engine(std::shared_ptr<const Gpt2Model> model, const Tokenizer* tokenizer, const EngineOptions& options,
               Metrics* metrics)
    : model_(std::move(model)),
      tokenizer_(tokenizer),
      options_(options),
      metrics_(metrics),
      session_(model_, {.slots = options.slots,
                        .max_tokens = options.context,
                        .name = "server",
                        // a padded vocabulary: ids the tokenizer lacks are never sampled
                        .sample_vocab = tokenizer ? tokenizer->vocab_size() : 0,
                        .commit_memory = true}) {
  options_.context = session_.max_tokens();
  PTHRUN_CHECK(options_.max_queue >= 1, "a queue of ", options_.max_queue, " jobs: expected at least 1");
  slots_.resize(static_cast<std::size_t>(options_.slots));
  active_.assign(static_cast<std::size_t>(options_.slots), false);
  free_steps_.assign(static_cast<std::size_t>(options_.slots), 0);
  publish_gauges();
  thread_ = std::thread([this] { run(); });
}

Engine::~Engine() {
  cancel_all();
  {
    std::lock_guard lock(mutex_);
    closed_ = stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

Submit Engine::submit(std::vector<std::pair<Job, std::shared_ptr<JobChannel>>> jobs) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return Submit::closed;
    if (queue_.size() + jobs.size() > static_cast<std::size_t>(options_.max_queue)) return Submit::queue_full;
    for (auto& [job, channel] : jobs) {
      PTHRUN_CHECK(!job.prompt.empty() && job.choices >= 1 && job.choices <= options_.slots &&
                       static_cast<int64_t>(job.prompt.size()) + job.max_tokens <= options_.context,
                   "a job outside the engine's limits");
      auto queued = std::make_shared<Queued>();
      queued->open_choices = job.choices;
      queued->job = std::move(job);
      queued->channel = std::move(channel);
      queued->submitted = Clock::now();
      queue_.push_back(std::move(queued));
      ++jobs_in_flight_;
    }
  }
  publish_gauges();
  wake_.notify_all();
  return Submit::queued;
}

void Engine::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
}

void Engine::cancel_all() {
  {
    std::lock_guard lock(mutex_);
    for (const auto& queued : queue_) queued->channel->cancel();
    cancel_all_ = true;
  }
  wake_.notify_all();
}

bool Engine::idle() const { return jobs_in_flight_.load() == 0; }

int64_t Engine::queued() const {
  std::lock_guard lock(mutex_);
  return static_cast<int64_t>(queue_.size());
}

void Engine::publish_gauges() {
  if (metrics_) metrics_->set_engine_state(active_count_.load(), options_.slots, queued());
}

void Engine::run() {
  while (true) {
    admit();
    if (active_count_.load() > 0) {
      try {
        step();
      } catch (const std::exception& e) {  // a failed step ends its choices, not the server
        for (int64_t b = 0; b < options_.slots; ++b)
          if (active_[static_cast<std::size_t>(b)]) {
            ChoiceUpdate update;
            update.error = e.what();
            finish_slot(b, std::move(update), FinishReason::error);
          }
      }
      continue;
    }
    std::unique_lock lock(mutex_);
    if (stopping_) break;
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
  }
}

// Moves the oldest queued job into free slots when it fits. One prefill per step: prompts that
// arrive together get their first tokens one after another, each right after its prefill,
// and running choices wait for one prefill at most between their tokens.
void Engine::admit() {
  while (true) {
    std::shared_ptr<Queued> job;
    {
      std::lock_guard lock(mutex_);
      const auto free_slots = static_cast<int64_t>(std::count(active_.begin(), active_.end(), false));
      if (queue_.empty() || queue_.front()->job.choices > free_slots) break;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    const bool prefilled = start(job);
    publish_gauges();
    if (prefilled) break;
  }
}

bool Engine::start(const std::shared_ptr<Queued>& job) {
  std::vector<int64_t> slots;
  for (int64_t b = 0; b < options_.slots && static_cast<int64_t>(slots.size()) < job->job.choices; ++b)
    if (!active_[static_cast<std::size_t>(b)]) slots.push_back(b);
  const bool cancelled = job->channel->cancelled() || cancel_all_.load();
  const bool score_prompt = job->job.prompt_logprobs && job->job.top_logprobs >= 0;
  const bool prefill = !cancelled && (job->job.max_tokens > 0 || score_prompt);
  std::vector<TokenLogprob> scored_prompt;
  try {
    if (prefill) {
      session_.reset(slots[0]);
      const Tensor all_logits = session_.prefill(slots[0], job->job.prompt, score_prompt);
      if (metrics_) metrics_->add_prompt_tokens(static_cast<int64_t>(job->job.prompt.size()));
      for (std::size_t i = 1; i < slots.size(); ++i) session_.copy_slot(slots[0], slots[i]);
      if (score_prompt)
        scored_prompt = prompt_logprobs(job->job.prompt, all_logits.to(cpu_device), job->job.top_logprobs);
    }
  } catch (const std::exception& e) {
    for (std::size_t i = 0; i < slots.size(); ++i) {
      ChoiceUpdate update;
      update.choice = job->job.first_choice + static_cast<int64_t>(i);
      update.finish = FinishReason::error;
      update.error = e.what();
      job->channel->push(std::move(update));
    }
    --jobs_in_flight_;
    return true;
  }
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const auto b = static_cast<std::size_t>(slots[i]);
    Slot& slot = slots_[b];
    slot = Slot{};
    slot.job = job;
    slot.choice = job->job.first_choice + static_cast<int64_t>(i);
    slot.text = TextRelease(job->job.stop);
    active_[b] = true;
    ++active_count_;
    session_.set_sampling(slots[i], {job->job.sampling, job->job.seed, static_cast<uint64_t>(i)});
    if (!scored_prompt.empty()) job->channel->push({.choice = slot.choice, .logprobs = scored_prompt});
    if (cancelled) finish_slot(slots[i], {}, FinishReason::cancelled);
    else if (job->job.max_tokens == 0) finish_slot(slots[i], {}, FinishReason::length);
  }
  return prefill;
}

void Engine::step() {
  if (cancel_all_.load())
    for (const Slot& slot : slots_)
      if (slot.job) slot.job->channel->cancel();
  std::vector<int32_t> next = session_.sample(active_);
  const auto now = Clock::now();
  // Log-probabilities for the choices that asked, on every core: one at a time on this thread,
  // 16 choices asking for 5 each slowed a 16-slot server by 8% (3% now).
  const auto slots = static_cast<std::size_t>(options_.slots);
  auto wants_logprobs = [&](std::size_t b) { return active_[b] && slots_[b].job->job.top_logprobs >= 0; };
  bool any_logprobs = false;
  for (std::size_t b = 0; b < slots; ++b) any_logprobs = any_logprobs || wants_logprobs(b);
  std::vector<std::optional<TokenLogprob>> logprobs(slots);
  if (any_logprobs) {
    // Logits are read on the host only when some choice asked for log-probabilities.
    const Tensor host_logits = session_.logits().to(cpu_device);
    const int64_t V = model_->config().vocab_size;
#pragma omp parallel for schedule(dynamic)
    for (std::size_t b = 0; b < slots; ++b)
      if (wants_logprobs(b))
        logprobs[b] = logprob_of(next[b], host_logits.data<float>() + static_cast<int64_t>(b) * V,
                                 slots_[b].job->job.top_logprobs);
  }
  for (std::size_t b = 0; b < slots; ++b)
    if (active_[b]) on_token(static_cast<int64_t>(b), next[b], std::move(logprobs[b]), now);
  for (std::size_t b = 0; b < slots; ++b) free_steps_[b] = active_[b] ? 0 : free_steps_[b] + 1;
  compact(next);
  publish_gauges();
  if (active_count_.load() > 0) session_.decode(next, active_);
}

// A step computes every row up to the last busy slot, so a request left in a high slot while
// the ones below it drained would pay for their idle rows at every step. Once a slot below it
// has stayed free for two steps and no job waits, the last busy slot moves into the lowest such
// slot: its cache, logits row and sampler go with it, so its tokens are the same. A waiting job
// (admitted one a step) or a client sending its next request straight away (back within a
// step) would take the free slot anyway, and the move would be a wasted copy: moving whenever
// a slot had been free two steps cost a concurrency-16 level 4-12% of its tokens/s.
void Engine::compact(std::vector<int32_t>& next) {
  constexpr int64_t kFreeStepsBeforeMove = 2;
  if (queued() > 0) return;
  while (true) {
    const auto end = static_cast<std::size_t>(rows_through_last_active(active_));  // one past the last busy slot
    if (end == 0) return;
    const std::size_t last = end - 1;
    std::size_t low = 0;
    while (low < last && (active_[low] || free_steps_[low] < kFreeStepsBeforeMove)) ++low;
    if (low == last) return;
    session_.move_slot(static_cast<int64_t>(last), static_cast<int64_t>(low));
    slots_[low] = std::exchange(slots_[last], Slot{});
    active_[low] = true;
    active_[last] = false;
    free_steps_[low] = free_steps_[last] = 0;
    next[low] = next[last];
    ++slot_moves_;
  }
}

void Engine::on_token(int64_t b, int32_t token, std::optional<TokenLogprob> logprob, Clock::time_point now) {
  Slot& slot = slots_[static_cast<std::size_t>(b)];
  Queued& job = *slot.job;
  if (job.channel->cancelled()) return finish_slot(b, {}, FinishReason::cancelled);

  const double seconds = std::chrono::duration<double>(now - (slot.generated == 0 ? job.submitted : slot.last_token)).count();
  if (slot.generated == 0 && !job.first_token_seen) {
    job.first_token_seen = true;
    job.channel->set_first_token_seconds(seconds);
    if (metrics_) metrics_->observe_first_token(seconds);
  } else if (slot.generated > 0 && metrics_) {
    metrics_->observe_token_latency(seconds);
  }
  slot.last_token = now;
  ++slot.generated;
  if (metrics_) metrics_->add_generated_tokens(1);

  ChoiceUpdate update;
  update.choice = slot.choice;
  update.tokens = {token};
  if (logprob) {
    update.logprobs.push_back(std::move(*logprob));
    update.logprobs.back().text_offset = slot.text.released_chars();
  }
  const bool end_of_text = options_.stop_token && token == *options_.stop_token;
  if (!end_of_text && tokenizer_) {
    TextRelease::Step released = slot.text.add(tokenizer_->token_bytes(token));
    update.text = std::move(released.text);
    if (released.stopped) return finish_slot(b, std::move(update), FinishReason::stop);
  }
  if (end_of_text) return finish_slot(b, std::move(update), FinishReason::stop);
  // The slot must hold the token to decode it; submit() keeps prompt + max_tokens in context.
  if (slot.generated >= job.job.max_tokens || session_.length(b) >= session_.max_tokens())
    return finish_slot(b, std::move(update), FinishReason::length);
  job.channel->push(std::move(update));
}

void Engine::finish_slot(int64_t b, ChoiceUpdate update, FinishReason reason) {
  Slot& slot = slots_[static_cast<std::size_t>(b)];
  update.choice = slot.choice;
  update.text += slot.text.flush();
  update.finish = reason;
  std::shared_ptr<Queued> job = std::move(slot.job);
  slot = Slot{};
  active_[static_cast<std::size_t>(b)] = false;
  --active_count_;
  session_.reset(b);
  job->channel->push(std::move(update));
  if (--job->open_choices == 0) --jobs_in_flight_;
}

// log_softmax of the model's logits (before temperature, top-k and top-p): the chosen token's
// and the `top` most likely tokens' log-probabilities (most likely first, the lower id first
// among equals). `top` is small (the API allows 5), so one pass keeps the best in a short
// sorted list.
TokenLogprob Engine::logprob_of(int32_t token, const float* logits, int64_t top) const {
  const int64_t V = model_->config().vocab_size;
  const float max = *std::max_element(logits, logits + V);
  double sum = 0;
  for (int64_t v = 0; v < V; ++v) sum += std::exp(static_cast<double>(logits[v] - max));
  const double log_sum = std::log(sum) + max;
  TokenLogprob out;
  out.token = token;
  out.logprob = static_cast<float>(logits[token] - log_sum);
  const auto k = static_cast<std::size_t>(std::min(top, V));
  if (k == 0) return out;
  auto ranks_before = [logits](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::vector<int32_t> best;
  best.reserve(k + 1);
  for (int32_t v = 0; v < V; ++v) {
    if (best.size() == k && !ranks_before(v, best.back())) continue;
    best.insert(std::upper_bound(best.begin(), best.end(), v, ranks_before), v);
    if (best.size() > k) best.pop_back();
  }
  for (const int32_t v : best) out.top.emplace_back(v, static_cast<float>(logits[v] - log_sum));
  return out;
}

// Token i of the prompt is scored by the logits of position i - 1, as the tokens a choice
// generates are; the first has no score (OpenAI's null). Offsets count the characters of the
// prompt's text before each token, released as a choice's generated text is.
std::vector<TokenLogprob> Engine::prompt_logprobs(const std::vector<int32_t>& prompt, const Tensor& logits,
                                                  int64_t top) const {
  const int64_t V = model_->config().vocab_size;
  std::vector<TokenLogprob> out(prompt.size());
  out[0] = {.token = prompt[0], .logprob = std::nullopt};
#pragma omp parallel for schedule(dynamic)
  for (std::size_t i = 1; i < prompt.size(); ++i)
    out[i] = logprob_of(prompt[i], logits.data<float>() + static_cast<int64_t>(i - 1) * V, top);
  TextRelease text;
  for (std::size_t i = 0; i < prompt.size(); ++i) {
    out[i].in_prompt = true;
    out[i].text_offset = text.released_chars();
    if (tokenizer_) text.add(tokenizer_->token_bytes(prompt[i]));
  }
  return out;
}

}  // namespace pthrun::serve
