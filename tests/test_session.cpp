// Sessions over one shared model, on the CPU: each slot and each session gets exactly the
// tokens and logits it gets alone, whatever runs beside it (other slots, other sessions on other
// threads); inactive slots are left untouched; a slot can be reset and refilled while the
// others decode; and a session's allocations carry its name.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "model/generate.h"
#include "model/gpt2.h"
#include "model/session.h"
#include "runtime/allocator.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/host_memory.h"
#include "runtime/json.h"
#include "tests/model_fixture.h"
#include "tests/test_util.h"

using namespace pthrun;
using pthrun::test::fixture;
using pthrun::test::load_model_fixture;

namespace {

std::vector<int32_t> prompt(int64_t length, int32_t salt, int64_t vocab) {
  std::vector<int32_t> ids(static_cast<std::size_t>(length));
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 31 + salt * 17 + 5) % vocab);
  return ids;
}

// A request: its prompt and how it samples. Its tokens alone come from a session of one slot.
struct Request {
  std::vector<int32_t> prompt;
  SlotSampling sampling;
  int64_t new_tokens;
};

std::vector<int32_t> run_alone(const std::shared_ptr<const Gpt2Model>& model, const Request& r) {
  Session session(model, {.slots = 1, .max_tokens = model->config().context});
  session.set_sampling(0, r.sampling);
  session.prefill(0, r.prompt);
  std::vector<int32_t> out = {session.sample()[0]};
  while (static_cast<int64_t>(out.size()) < r.new_tokens) {
    session.decode(std::vector<int32_t>{out.back()}, {true});
    out.push_back(session.sample()[0]);
  }
  return out;
}

std::vector<Request> mixed_requests(int64_t vocab) {
  return {
      {prompt(5, 1, vocab), {}, 9},
      {prompt(11, 2, vocab), {.params = {.temperature = 0.9f, .top_k = 10}, .seed = 42, .stream = 0}, 14},
      {prompt(3, 3, vocab), {.params = {.temperature = 1.1f, .top_p = 0.8f}, .seed = 7, .stream = 3}, 6},
      {prompt(8, 4, vocab), {}, 12},
      {prompt(2, 5, vocab), {.params = {.temperature = 0.7f}, .seed = 42, .stream = 1}, 10},
  };
}

}  // namespace

TEST_CASE("continuous batching: requests admitted into free slots while others decode get their tokens alone") {
  const auto model = load_model_fixture("book_qkv");
  const std::vector<Request> requests = mixed_requests(model->config().vocab_size);
  std::vector<std::vector<int32_t>> alone;
  for (const Request& r : requests) alone.push_back(run_alone(model, r));

  // Two slots for five requests: a slot is reset and refilled the step after its request ends.
  Session session(model, {.slots = 2, .max_tokens = model->config().context});
  std::vector<std::vector<int32_t>> got(requests.size());
  std::vector<int64_t> owner = {-1, -1};  // request per slot
  std::vector<int32_t> next(2, 0);
  std::size_t admitted = 0, finished = 0;
  while (finished < requests.size()) {
    for (int64_t slot = 0; slot < 2; ++slot) {
      if (owner[static_cast<std::size_t>(slot)] >= 0 || admitted == requests.size()) continue;
      const Request& r = requests[admitted];
      session.reset(slot);
      session.set_sampling(slot, r.sampling);
      session.prefill(slot, r.prompt);
      owner[static_cast<std::size_t>(slot)] = static_cast<int64_t>(admitted++);
    }
    // One sample per step for every slot: slots prefilled this step draw their first token.
    const std::vector<int32_t> drawn = session.sample();
    std::vector<bool> active(2, false);
    for (std::size_t slot = 0; slot < 2; ++slot) {
      if (owner[slot] < 0) continue;
      const auto i = static_cast<std::size_t>(owner[slot]);
      got[i].push_back(drawn[slot]);
      if (static_cast<int64_t>(got[i].size()) == requests[i].new_tokens) {
        owner[slot] = -1;
        ++finished;
      } else {
        active[slot] = true;
        next[slot] = drawn[slot];
      }
    }
    if (std::find(active.begin(), active.end(), true) != active.end()) session.decode(next, active);
  }
  for (std::size_t i = 0; i < requests.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i] == alone[i]);
  }
}

TEST_CASE("an inactive slot is untouched by decode: paused, then resumed, it continues as if never paused") {
  const auto model = load_model_fixture("book_qkv");
  const int64_t V = model->config().vocab_size;
  const std::vector<int32_t> p = prompt(6, 9, V);
  Session reference(model, {.slots = 1, .max_tokens = 20});
  reference.prefill(0, p);
  const int32_t first = reference.sample()[0];
  reference.decode(std::vector<int32_t>{first}, {true});
  const std::vector<float> expected = reference.logits().to_floats();

  Session session(model, {.slots = 2, .max_tokens = 20});
  session.prefill(0, p);
  session.prefill(1, prompt(4, 2, V));
  REQUIRE(session.sample()[0] == first);
  // Slot 0 sits out three steps, fed a different token each time: none may reach its cache.
  for (int32_t junk : {1, 2, 3}) session.decode(std::vector<int32_t>{junk, 7}, {false, true});
  CHECK(session.length(0) == 6);
  CHECK(session.length(1) == 7);
  session.decode(std::vector<int32_t>{first, 7}, {true, true});
  const std::vector<float> resumed = session.logits().slice(0, 0, 1).to_floats();
  CHECK(resumed == expected);
}

TEST_CASE("two sessions over one model on two threads each give exactly their results alone") {
  const auto model = load_model_fixture("hf_tied");
  const std::vector<Request> requests = mixed_requests(model->config().vocab_size);
  const std::vector<int32_t> forward_prompt = prompt(12, 8, model->config().vocab_size);
  std::vector<std::vector<int32_t>> alone;
  for (const Request& r : requests) alone.push_back(run_alone(model, r));
  const std::vector<float> forward_alone = model->forward(forward_prompt).to_floats();

  std::vector<std::vector<int32_t>> first(requests.size()), second(requests.size());
  std::vector<float> forward_concurrent;
  auto worker = [&](std::vector<std::vector<int32_t>>& out, bool with_forward) {
    for (int round = 0; round < 3; ++round)
      for (std::size_t i = 0; i < requests.size(); ++i) out[i] = run_alone(model, requests[i]);
    if (with_forward) forward_concurrent = model->forward(forward_prompt).to_floats();
  };
  std::thread a(worker, std::ref(first), true), b(worker, std::ref(second), false);
  a.join();
  b.join();
  CHECK(first == alone);
  CHECK(second == alone);
  CHECK(forward_concurrent == forward_alone);
}

TEST_CASE("generate in a shared session leaves the session's other slots alone") {
  const auto model = load_model_fixture("book_qkv");
  const int64_t V = model->config().vocab_size;
  Session session(model, {.slots = 3, .max_tokens = 30});
  session.prefill(2, prompt(5, 6, V));
  const std::vector<float> before = session.logits().slice(0, 2, 3).to_floats();
  GenerationOptions options;
  options.max_new_tokens = 6;
  const GenerationResult r = generate(session, {prompt(4, 1, V), prompt(7, 2, V)}, options);
  CHECK(r.tokens[0] == run_alone(model, {prompt(4, 1, V), {}, 6}));
  CHECK(r.tokens[1] == run_alone(model, {prompt(7, 2, V), {}, 6}));
  CHECK(session.length(2) == 5);
  session.decode(std::vector<int32_t>{0, 0, 3}, {false, false, true});
  Session alone(model, {.slots = 1, .max_tokens = 30});
  alone.prefill(0, prompt(5, 6, V));
  CHECK(alone.logits().to_floats() == before);
  alone.decode(std::vector<int32_t>{3}, {true});
  CHECK(alone.logits().to_floats() == session.logits().slice(0, 2, 3).to_floats());
}

TEST_CASE("a session's allocations are labelled with its name under each scope") {
  const auto model = load_model_fixture("book_noqkv");
  Session session(model, {.slots = 2, .max_tokens = 16, .name = "alpha"});
  std::set<std::string> labels;
  for (const SegmentInfo& segment : device_allocator(cpu_device).snapshot().segments)
    for (const BlockInfo& block : segment.blocks)
      if (block.state == BlockState::allocated) labels.insert(block.label);
  CHECK(labels.count("kv_cache/alpha") == 1);
  CHECK(labels.count("activations/alpha") == 1);
  CHECK(labels.count("workspace/alpha") == 1);
}

TEST_CASE("a session that commits its memory has its KV cache resident once constructed") {
  // A server's (tools/server/engine.cpp): its first requests must not pay for the OS mapping
  // their cache's pages. Slots enough for a 48 MiB cache, far above what the test process
  // already has spare; the allocator's cache is emptied so that the blocks are new pages.
  const auto model = load_model_fixture("book_noqkv");
  const Gpt2Config& c = model->config();
  const int64_t slot_bytes = 2 * c.layers * c.context * c.channels * static_cast<int64_t>(itemsize(model->kv_dtype()));
  const int64_t slots = (int64_t{48} << 20) / slot_bytes + 1;
  device_allocator(cpu_device).empty_cache();
  const HostMemory before = host_memory();
  Session session(model, {.slots = slots, .commit_memory = true});
  const HostMemory after = host_memory();
  CAPTURE(slots);
  CHECK(after.anon_rss >= before.anon_rss + static_cast<std::size_t>(slots * slot_bytes));
  session.prefill(slots - 1, std::vector<int32_t>{1, 2, 3});
  CHECK(session.length(slots - 1) == 3);
}

TEST_CASE("sessions refuse bad slots, sizes and tokens in one line; on the CPU no graph is captured") {
  const auto model = load_model_fixture("book_noqkv");  // context 32, vocabulary 96
  CHECK_THROWS_WITH(Session(model, {.slots = 0}), "a session of 0 slots: expected at least 1");
  CHECK_THROWS_WITH(Session(model, {.slots = 1, .max_tokens = 33}),
                    "a session of 33 tokens per slot: expected 1 to the model's context of 32");
  Session session(model, {.slots = 2, .max_tokens = 8});
  CHECK_THROWS_WITH(session.prefill(2, std::vector<int32_t>{1}), "slot 2 is outside the session's 2 slots");
  CHECK_THROWS_WITH(session.prefill(0, std::vector<int32_t>(9, 1)),
                    "slot 0 would hold 9 tokens, more than its 8 (the model's context is 32)");
  CHECK_THROWS_WITH(session.decode(std::vector<int32_t>{1, 1}, {true, false}), "decode of slot 0 before its prefill");
  session.prefill(0, std::vector<int32_t>{1, 2});
  CHECK_THROWS_WITH(session.decode(std::vector<int32_t>{96, 1}, {true, false}),
                    "token 96 for slot 0 is outside the vocabulary of 96 ids");
  session.decode(std::vector<int32_t>{5, 1}, {true, false});
  session.decode(std::vector<int32_t>{5, 1}, {true, false});
  CHECK_FALSE(session.graph_ready());
  CHECK(session.graph_captures() == 0);
  CHECK(session.graph_failure().empty());
}
