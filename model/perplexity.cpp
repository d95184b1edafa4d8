// Sliding-window perplexity (see perplexity.h): one session of ctx tokens, each window a fresh
// prefill that returns every position's logits.
#include "model/perplexity.h"

#include <algorithm>
#include <cmath>

#include "model/session.h"
#include "runtime/error.h"

namespace pthrun {

namespace {

// -log softmax(row)[target], in double.
double token_nll(const float* row, int64_t vocab, int32_t target) {
  const float max = *std::max_element(row, row + vocab);
  double sum = 0;
  for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - max);
  return std::log(sum) + max - static_cast<double>(row[target]);
}

}  // namespace

Perplexity sliding_window_perplexity(const std::shared_ptr<const Gpt2Model>& model, std::span<const int32_t> tokens,
                                     const PerplexityOptions& options) {
  const int64_t context = model->config().context, V = model->config().vocab_size;
  const int64_t ctx = options.ctx == 0 ? context : options.ctx;
  const int64_t stride = options.stride == 0 ? std::max<int64_t>(ctx / 2, 1) : options.stride;
  const auto n = static_cast<int64_t>(tokens.size());
  PTHRUN_CHECK(n >= 2, "perplexity needs at least 2 tokens, the text has ", n);
  PTHRUN_CHECK(ctx >= 2 && ctx <= context, "--ctx ", ctx, ": expected 2 to the model's context of ", context);
  PTHRUN_CHECK(stride >= 1 && stride <= ctx, "--stride ", stride, ": expected 1 to --ctx (", ctx, ")");
  model->check_tokens(tokens);

  Session session(model, {.slots = 1, .max_tokens = std::min(ctx, n), .cuda_graphs = false});
  Perplexity out;
  double weighted_nll = 0;
  int64_t prev_end = 0;
  for (int64_t begin = 0; begin < n; begin += stride) {
    const int64_t end = std::min(begin + ctx, n), length = end - begin;
    const int64_t labelled = end - prev_end;  // the guide's trg_len
    const Tensor logits = session.forward(tokens.subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(length)));
    const float* l = logits.data<float>();
    // Position i predicts token i + 1; the labelled tokens are the last `labelled` ones, and
    // the window's first token is never predicted.
    double nll = 0;
    int64_t scored = 0;
    for (int64_t i = std::max<int64_t>(length - labelled - 1, 0); i + 1 < length; ++i, ++scored)
      nll += token_nll(l + i * V, V, tokens[static_cast<std::size_t>(begin + i + 1)]);
    const int64_t weight = labelled - 1;  // the guide's num_loss_tokens
    if (scored > 0) weighted_nll += nll / static_cast<double>(scored) * static_cast<double>(weight);
    out.scored_tokens += weight;
    ++out.windows;
    prev_end = end;
    if (end == n) break;
  }
  PTHRUN_CHECK(out.scored_tokens > 0, "perplexity: no token was scored (", n, " tokens, --ctx ", ctx, ", --stride ",
               stride, ")");
  out.mean_nll = weighted_nll / static_cast<double>(out.scored_tokens);
  out.perplexity = std::exp(out.mean_nll);
  return out;
}

}  // namespace pthrun
