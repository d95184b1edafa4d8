// The small GPT-2 fixtures of tests/fixtures/model/, loaded on the CPU with the head count
// their reference file records.
//
//   std::shared_ptr<const Gpt2Model> model = pthrun::test::load_model_fixture("book_bias");
#pragma once

#include <memory>
#include <string>

#include "model/gpt2.h"
#include "runtime/file_util.h"
#include "runtime/json.h"
#include "tests/test_util.h"

namespace pthrun::test {

inline std::shared_ptr<const Gpt2Model> load_model_fixture(const std::string& name) {
  const JsonValue ref = parse_json(read_file(fixture("model/" + name + ".ref.json")));
  ModelOptions options;
  options.device = cpu_device;
  options.heads = json_int(ref, "heads");
  return Gpt2Model::load(fixture("model/" + json_string(ref, "weights")), options);
}

}  // namespace pthrun::test
