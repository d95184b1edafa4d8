// Zero-copy CPU weights (note [Zero-copy weights] in model/gpt2.cpp): the weights a checkpoint
// already stores in the model's dtype are views of the mapped file, give the copying load's
// logits exactly, and a file truncated under them makes the next step fail with the file's
// name instead of computing on lost pages.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "model/gpt2.h"
#include "model/session.h"
#include "runtime/error.h"
#include "tests/cli_runner.h"
#include "tests/test_util.h"

using namespace pthrun;
using pthrun::test::fixture;

namespace {

std::shared_ptr<const Gpt2Model> load(const std::string& path, int64_t heads, bool mmap, DType dtype = DType::f32) {
  ModelOptions options;
  options.device = cpu_device;
  options.heads = heads;
  options.mmap = mmap;
  options.dtype = dtype;
  return Gpt2Model::load(path, options);
}

}  // namespace

TEST_CASE("weights in the model's dtype are views of the mapped file, and give the copying load's logits") {
  const std::vector<int32_t> prompt = {5, 17, 3, 40, 41, 2, 9};
  // The HF fixture stores f32 in the model's layout: everything maps. The book's fused q/k/v
  // is built from three tensors: streamed. The bf16 fixture converts: nothing maps.
  struct Case {
    const char* file;
    int64_t heads;
    bool all_mapped;
  };
  for (const Case& c : {Case{"model/hf_tied.safetensors", 4, true}, Case{"model/book_checkpoint.pth", 4, false}}) {
    CAPTURE(std::string(c.file));
    const auto mapped = load(fixture(c.file), c.heads, true);
    const auto copied = load(fixture(c.file), c.heads, false);
    CHECK(copied->mapped_bytes() == 0);
    CHECK(mapped->mapped_bytes() > 0);
    CHECK((mapped->mapped_bytes() == mapped->weights().nbytes()) == c.all_mapped);
    // The embedding is borrowed (no allocation behind it), the copy's is not.
    CHECK(mapped->weights().wte.storage()->allocation() == nullptr);
    CHECK(copied->weights().wte.storage()->allocation() != nullptr);
    const std::vector<float> a = mapped->forward(prompt).to_floats(), b = copied->forward(prompt).to_floats();
    CHECK(a == b);
  }
  const auto converted = load(fixture("model/book_bf16.pth"), 4, true);
  CHECK(converted->mapped_bytes() == 0);
  // int8 matrices are built, the f32 embedding is mapped.
  const auto int8 = load(fixture("model/hf_tied.safetensors"), 4, true, DType::i8);
  CHECK(int8->mapped_bytes() > 0);
  CHECK(int8->weights().wte.storage()->allocation() == nullptr);
  CHECK(int8->weights().layers[0].qkv_w.storage()->allocation() != nullptr);
}

TEST_CASE("a checkpoint truncated under mapped weights: the next step throws, naming the file") {
  test::TempDir dir("zero-copy");
  const std::string path = dir / "model.safetensors";
  std::filesystem::copy_file(fixture("model/hf_tied.safetensors"), path);
  const auto model = load(path, 4, true);
  REQUIRE(model->mapped_bytes() > 0);
  Session session(model);
  const std::vector<int32_t> prompt = {5, 17, 3};
  session.prefill(0, prompt);  // fine while the file is whole
  std::filesystem::resize_file(path, 64);
  CHECK_THROWS_WITH_AS(session.prefill(0, prompt), doctest::Contains((path + ": the file was truncated").c_str()), Error);
}
