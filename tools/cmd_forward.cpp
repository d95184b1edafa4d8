// pthrun forward: the logits of every position of a token sequence, as a .npy file.
#include <cstdio>

#include "loader/npy.h"
#include "model/gpt2.h"
#include "runtime/error.h"
#include "tools/cli.h"
#include "tools/model_options.h"

namespace pthrun::cli {

namespace {

int run_forward(const ParsedArgs& args) {
  args.max_positional(1);
  const std::string& checkpoint = args.positional(0, "the checkpoint (CKPT)");
  const auto output = args.get("output");
  if (!output) throw UsageError("missing -o OUT.npy");
  if (!args.has("tokens")) throw UsageError("missing --tokens IDS");
  const auto model = Gpt2Model::load(checkpoint, model_options(args));
  std::vector<int32_t> tokens;
  for (int64_t id : args.get_int_list("tokens")) {
    PTHRUN_CHECK(id >= 0 && id < model->config().vocab_size, "--tokens: id ", id,
                 " is outside the model's vocabulary of ", model->config().vocab_size, " ids");
    tokens.push_back(static_cast<int32_t>(id));
  }
  const Tensor logits = model->forward(tokens);
  write_npy(*output, logits);
  std::printf("wrote %s: float32 logits %s\n", output->c_str(), logits.shape().to_string().c_str());
  return 0;
}

}  // namespace

extern const CommandSpec forward_command = {
    "forward",
    "Write the logits of every position of a token sequence as a .npy file",
    "CKPT",
    with_model_options({{"tokens", 0, "IDS", "the sequence, comma-separated token ids"},
                        {"output", 'o', "OUT.npy", "float32 logits of shape [T, vocab]"}}),
    run_forward};

}  // namespace pthrun::cli
