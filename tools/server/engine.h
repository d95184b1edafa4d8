// The serving engine: one thread owns a Session of N slots and runs continuous batching over
// it. HTTP threads only submit jobs and read what comes back; no lock is held across a forward
// pass, and cancellation is a flag the engine reads between steps.
//
//   Engine engine(model, &tokenizer, {.slots = 4, .context = 1024, .max_queue = 64}, &metrics);
//   auto channel = std::make_shared<JobChannel>(job.choices);
//   if (engine.submit({{job, channel}}) != Submit::queued) ... 503;
//   while (!channel->done()) for (ChoiceUpdate& u : channel->take(20ms)) stream(u);
//
// Each step the engine (1) admits the oldest queued job into free slots, prefilling its prompt
// (a job's n choices share one prefill: the slot is copied; with prompt_logprobs the prefill
// also scores every prompt token, which each choice gets first), (2) samples one token for every
// slot, (3) hands each active slot's token to its job — text, stop strings, finish — and frees
// the slots of finished or cancelled jobs at once, (4) decodes every active slot in one
// batched forward. Batching does not change results: a slot's tokens are those it gets alone
// (Session's guarantee), and each choice samples from (the job's seed, its own steps, its
// choice index).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kernels/sampling.h"
#include "model/gpt2.h"
#include "model/session.h"
#include "model/tokenizer.h"
#include "tools/server/metrics.h"
#include "tools/text_release.h"

namespace pthrun::serve {

// One prompt's generation, checked by the caller against the engine's limits.
struct Job {
  std::vector<int32_t> prompt = {};  // at least one token
  int64_t max_tokens = 16;       // prompt + max_tokens <= the engine's context
  int64_t choices = 1;           // n, at most the engine's slots
  int64_t first_choice = 0;      // its choices' indices in the channel: first_choice + 0 .. choices-1
  kernels::SamplingParams sampling = {};
  uint64_t seed = 0;             // choice i (0 .. choices-1) draws from (seed, its step, i)
  std::vector<std::string> stop = {};
  int64_t top_logprobs = -1;     // < 0: none; else the chosen token's and this many alternatives'
  bool prompt_logprobs = false;  // with top_logprobs >= 0: also the prompt's tokens' (echo), first
};

enum class FinishReason { stop, length, cancelled, error };
const char* finish_reason_name(FinishReason reason);

struct TokenLogprob {
  int32_t token = 0;
  std::optional<float> logprob = 0;  // none: the prompt's first token, which nothing predicts
  std::vector<std::pair<int32_t, float>> top = {};  // most likely first
  std::size_t text_offset = 0;  // code points of the choice's generated text before it
  bool in_prompt = false;       // a prompt token's: text_offset counts from the prompt's start
};

// What one step produced for one choice.
struct ChoiceUpdate {
  int64_t choice = 0;
  std::vector<int32_t> tokens = {};      // sampled (an end-of-text token included)
  std::string text = {};                 // released text, valid UTF-8 (may be empty)
  std::vector<TokenLogprob> logprobs = {};  // one per token when asked for
  std::optional<FinishReason> finish = {};
  std::string error = {};                     // with FinishReason::error
};

// Between the engine and the thread that answers one job's client.
class JobChannel {
 public:
  explicit JobChannel(int64_t choices) : open_choices_(choices) {}
  void push(ChoiceUpdate update);  // engine
  // Waits up to `timeout` for updates and takes those that arrived (possibly none).
  std::vector<ChoiceUpdate> take(std::chrono::milliseconds timeout);
  // Every choice has finished and its updates have been taken.
  bool done() const;
  // The client went away: the engine frees the job's slots at its next step.
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }
  // Seconds from submission to the first token (negative until then).
  double first_token_seconds() const { return first_token_seconds_.load(); }
  void set_first_token_seconds(double s) { first_token_seconds_.store(s); }

 private:
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<ChoiceUpdate> updates_;
  int64_t open_choices_;
  std::atomic<bool> cancelled_{false};
  std::atomic<double> first_token_seconds_{-1};
};

struct EngineOptions {
  int64_t slots = 4;
  int64_t context = 0;     // tokens per slot (0: the model's context)
  int64_t max_queue = 64;  // jobs waiting for slots
  std::optional<int32_t> stop_token = {};  // <|endoftext|>: finishes a choice, not shown
};

enum class Submit { queued, queue_full, closed };

class Engine {
 public:
  // `tokenizer` (may be null: no text, tokens only) must outlive the engine; only its const
  // token_bytes() is used, from the engine's thread. `metrics` may be null.
  Engine(std::shared_ptr<const Gpt2Model> model, const Tokenizer* tokenizer, const EngineOptions& options,
         Metrics* metrics);
  ~Engine();  // cancels everything and joins the thread
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues every job or none.
  Submit submit(std::vector<std::pair<Job, std::shared_ptr<JobChannel>>> jobs);
  // Refuses new jobs from now on (shutdown); queued and running ones go on.
  void close();
  // Cancels every queued and running job.
  void cancel_all();
  // Nothing queued or running.
  bool idle() const;

  int64_t slots() const { return options_.slots; }
  int64_t context() const { return options_.context; }
  int64_t max_queue() const { return options_.max_queue; }
  int64_t active_slots() const { return active_count_.load(); }
  // Busy slots moved down into free ones so far (compact).
  int64_t slot_moves() const { return slot_moves_.load(); }
  int64_t queued() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Queued {
    Job job;
    std::shared_ptr<JobChannel> channel;
    Clock::time_point submitted;
    bool first_token_seen = false;
    int64_t open_choices = 0;
  };
  struct Slot {
    std::shared_ptr<Queued> job;  // null: free
    int64_t choice = 0;
    int64_t generated = 0;
    TextRelease text{{}};
    Clock::time_point last_token{};
  };

  void run();
  void admit();
  // Prefills the job into free slots; false when it needed no prefill (cancelled, or no tokens).
  bool start(const std::shared_ptr<Queued>& job);
  void step();
  // Moves busy slots down into slots that have stayed free, so that a step computes no idle rows.
  void compact(std::vector<int32_t>& next);
  // `logprob`: the token's log-probabilities, for a choice that asked for them.
  void on_token(int64_t slot, int32_t token, std::optional<TokenLogprob> logprob, Clock::time_point now);
  void finish_slot(int64_t slot, ChoiceUpdate update, FinishReason reason);
  TokenLogprob logprob_of(int32_t token, const float* logits, int64_t top) const;
  // The prompt's tokens scored by `logits` (every position's, (T, V) on the CPU).
  std::vector<TokenLogprob> prompt_logprobs(const std::vector<int32_t>& prompt, const Tensor& logits, int64_t top) const;
  void publish_gauges();

  std::shared_ptr<const Gpt2Model> model_;
  const Tokenizer* tokenizer_;
  EngineOptions options_;
  Metrics* metrics_;
  Session session_;
  std::vector<Slot> slots_;        // engine thread only
  std::vector<bool> active_;       // engine thread only
  std::vector<int64_t> free_steps_;  // engine thread only: steps each slot has been free for
  std::atomic<int64_t> active_count_{0}, slot_moves_{0};

  mutable std::mutex mutex_;       // guards the queue and the flags below
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Queued>> queue_;
  bool closed_ = false, stopping_ = false;
  std::atomic<bool> cancel_all_{false};
  std::atomic<int64_t> jobs_in_flight_{0};  // submitted and not yet finished
  std::thread thread_;
};

}  // namespace pthrun::serve
