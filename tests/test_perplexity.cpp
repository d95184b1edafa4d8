// Sliding-window perplexity against Hugging Face's guide run by real transformers code
// (tests/fixtures/make_perplexity_fixtures.py): a tiny GPT-2 with GPT-2's vocabulary, a text,
// and five (ctx, stride) cases, overlapping or not, with strides that do not divide the text.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "model/gpt2.h"
#include "model/perplexity.h"
#include "model/tokenizer.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/json.h"
#include "tests/test_util.h"

using namespace pthrun;
using pthrun::test::fixture;

namespace {

struct PerplexityFixture {
  JsonValue json;
  std::shared_ptr<const Gpt2Model> model;
  std::vector<int32_t> ids;
};

PerplexityFixture read_perplexity_fixture() {
  JsonValue json = parse_json(read_file(fixture("perplexity/reference.json")));
  const std::string weights = fixture("perplexity/" + json.at("weights").get<std::string>());
  ModelOptions options;
  options.device = cpu_device;
  options.heads = json.at("heads").get<int64_t>();
  auto model = Gpt2Model::load(weights, options);
  std::vector<int32_t> ids;
  for (const JsonValue& id : json.at("ids")) ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
  return {std::move(json), std::move(model), std::move(ids)};
}

}  // namespace

TEST_CASE("the text's tokens are the ones the reference scored") {
  const PerplexityFixture f = read_perplexity_fixture();
  Tokenizer tokenizer = Tokenizer::load_default();
  CHECK(tokenizer.encode(read_file(fixture("perplexity/" + f.json.at("text").get<std::string>()))) == f.ids);
}

TEST_CASE("sliding-window perplexity equals the guide's in PyTorch to 1e-4 relative") {
  const PerplexityFixture f = read_perplexity_fixture();
  for (const JsonValue& c : f.json.at("cases")) {
    const int64_t ctx = c.at("ctx").get<int64_t>(), stride = c.at("stride").get<int64_t>();
    CAPTURE(ctx);
    CAPTURE(stride);
    const Perplexity p = sliding_window_perplexity(f.model, f.ids, {.ctx = ctx, .stride = stride});
    const double expected = c.at("perplexity").get<double>();
    CAPTURE(p.perplexity);
    CAPTURE(expected);
    CHECK(std::fabs(p.perplexity - expected) <= 1e-4 * expected);
    CHECK(p.scored_tokens == c.at("scored_tokens").get<int64_t>());
  }
}

TEST_CASE("perplexity refuses what it cannot score") {
  const PerplexityFixture f = read_perplexity_fixture();
  const std::vector<int32_t> one = {f.ids[0]};
  CHECK_THROWS_WITH_AS(sliding_window_perplexity(f.model, one), doctest::Contains("at least 2 tokens"), Error);
  CHECK_THROWS_WITH_AS(sliding_window_perplexity(f.model, f.ids, {.ctx = 65}), doctest::Contains("--ctx 65"), Error);
  CHECK_THROWS_WITH_AS(sliding_window_perplexity(f.model, f.ids, {.ctx = 16, .stride = 17}),
                       doctest::Contains("--stride 17"), Error);
}
