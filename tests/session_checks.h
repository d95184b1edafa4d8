// Checks of a Session that must hold on every device: test_model runs them on the CPU,
// test_gpu_model on a GPU.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "model/gpt2.h"
#include "model/session.h"

namespace pthrun::test {

// sample(active) draws the active slots only, each as it would alone: three slots (top-p,
// plain temperature, greedy) against one-slot sessions of the same prompts and seeds. A
// prefill runs one slot's rows whatever the session, so a one-slot session's logits are the
// same bits, and so are its draws.
inline void check_sample_of_active_slots(const std::shared_ptr<const Gpt2Model>& model,
                                         const std::vector<std::vector<int32_t>>& prompts) {
  REQUIRE(prompts.size() == 3);
  const SlotSampling samplers[3] = {{.params = {.temperature = 1.5f, .top_p = 0.95f}, .seed = 11},
                                    {.params = {.temperature = 1.5f}, .seed = 12},
                                    {}};
  auto alone = [&](int k, int draws) {
    Session session(model, {.slots = 1});
    session.prefill(0, prompts[static_cast<std::size_t>(k)]);
    session.set_sampling(0, samplers[k]);
    std::vector<int32_t> drawn;
    for (int i = 0; i < draws; ++i) drawn.push_back(session.sample()[0]);  // no decode: the same logits
    return drawn;
  };
  const std::vector<int32_t> first = alone(0, 1), second = alone(1, 2), third = alone(2, 1);
  REQUIRE(second[0] != second[1]);  // else the check of slot 1's steps below could not fail

  Session session(model, {.slots = 3});
  for (int k = 0; k < 3; ++k) {
    session.prefill(k, prompts[static_cast<std::size_t>(k)]);
    session.set_sampling(k, samplers[k]);
  }
  CHECK(session.sample({true, false, true}) == std::vector<int32_t>{first[0], -1, third[0]});
  CHECK(session.sample({false, false, false}) == std::vector<int32_t>{-1, -1, -1});
  // Slot 1 was not drawn, so its first draw is still to come (from rows 0-1 alone).
  CHECK(session.sample({false, true, false}) == std::vector<int32_t>{-1, second[0], -1});
  CHECK(session.sample({false, true, false}) == std::vector<int32_t>{-1, second[1], -1});
  CHECK_THROWS_WITH(session.sample({true, true}), "sample with 2 flags for a session of 3 slots");
}

}  // namespace pthrun::test
