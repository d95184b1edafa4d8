// Sliding-window perplexity of a token sequence, as Hugging Face's guide "Perplexity of
// fixed-length models" computes it, so that figures compare with the ecosystem's.
//
//   Perplexity p = sliding_window_perplexity(model, ids, {.ctx = 1024, .stride = 512});
//   std::printf("%.3f over %lld tokens\n", p.perplexity, (long long)p.scored_tokens);
//
// Windows of `ctx` tokens start every `stride` tokens, the last one ending at the end of the
// sequence. Each window scores only the tokens the previous window did not reach (the guide
// labels the others -100): its loss is the mean cross-entropy of those predictions. The
// guide then weights each window's loss by (tokens labelled) - 1 (its num_loss_tokens, one
// less than the tokens actually scored after the first window), and perplexity = exp(sum of
// weighted losses / sum of weights). That weighting is kept as the guide has it: the figure
// is the guide's, to 1e-4 relative (tests/fixtures/make_perplexity_fixtures.py runs the
// guide's own loop with transformers). Sums are formed in double.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "model/gpt2.h"

namespace pthrun {

struct PerplexityOptions {
  int64_t ctx = 0;     // window length; 0: the model's context
  int64_t stride = 0;  // 0: ctx / 2 (at least 1)
};

struct Perplexity {
  double perplexity = 0;
  double mean_nll = 0;        // natural log
  int64_t scored_tokens = 0;  // the guide's n_tokens (sum of num_loss_tokens)
  int64_t windows = 0;
};

// Throws pthrun::Error for fewer than 2 tokens, a ctx outside 2..context or a stride outside
// 1..ctx.
Perplexity sliding_window_perplexity(const std::shared_ptr<const Gpt2Model>& model, std::span<const int32_t> tokens,
                                     const PerplexityOptions& options = {});

}  // namespace pthrun
