// pthrun forward: the logits of every position of a token sequence, as a .npy file.
#include <cstdio>

#include "loader/npy.h"
#include "model/gpt2.h"
#include "runtime/error.h"
#include "tools/cli.h"
#include "tools/model_options.h"

namespace pthrun::cli {

namespace {

struct ForwardArgs {
  std::string checkpoint, tokens, output;
  ModelArgs model;
};

int run_forward(const ForwardArgs& args) {
  const std::vector<int64_t> ids = parse_int_list(args.tokens, "option --tokens");
  const auto model = Gpt2Model::load(args.checkpoint, model_options(args.model));
  std::vector<int32_t> tokens;
  for (int64_t id : ids) {
    PTHRUN_CHECK(id >= 0 && id < model->config().vocab_size, "--tokens: id ", id,
                 " is outside the model's vocabulary of ", model->config().vocab_size, " ids");
    tokens.push_back(static_cast<int32_t>(id));
  }
  const Tensor logits = model->forward(tokens);
  write_npy(args.output, logits);
  std::printf("wrote %s: float32 logits %s\n", args.output.c_str(), logits.shape().to_string().c_str());
  return 0;
}

}  // namespace

extern const Command forward_command = {
    "forward", "Write the logits of every position of a token sequence as a .npy file", [](CLI::App& app) {
      auto args = std::make_shared<ForwardArgs>();
      app.add_option("CKPT", args->checkpoint, "the checkpoint")->required();
      app.add_option("--tokens", args->tokens, "the sequence, comma-separated token ids")->type_name("IDS")->required();
      app.add_option("-o,--output", args->output, "float32 logits of shape [T, vocab]")->type_name("OUT.npy")->required();
      add_model_options(app, args->model);
      return [args] { return run_forward(*args); };
    }};

}  // namespace pthrun::cli
