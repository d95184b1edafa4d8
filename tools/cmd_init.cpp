// pthrun init: a randomly initialised GPT-2 checkpoint that torch.load reads.
#include <cstdio>

#include "model/config.h"
#include "runtime/error.h"
#include "tools/cli.h"
#include "tools/model_options.h"
#include "tools/random_checkpoint.h"

namespace pthrun::cli {

namespace {

struct InitArgs {
  std::string config = "gpt2-small", dtype = "f32", naming = "book", output;
  int64_t context = 1024, vocab = 50257, layers = 0, seed = 0;
};

int run_init(const InitArgs& args) {
  const Gpt2Preset* preset = find_preset(args.config);
  PTHRUN_ASSERT(preset);  // checked while parsing
  const Naming naming = args.naming == "book" ? Naming::book : Naming::hf;
  const DType dtype = *parse_dtype(args.dtype);
  const Gpt2Config config = random_config(*preset, naming, args.vocab, args.context, args.layers);
  write_random_checkpoint(config, naming, dtype, static_cast<uint64_t>(args.seed), args.output);
  std::printf("wrote %s: %s, %s naming, %s\n", args.output.c_str(), config.describe().c_str(), naming_name(naming),
              dtype_name(dtype));
  return 0;
}

}  // namespace

extern const Command init_command = {
    "init", "Write a randomly initialised GPT-2 checkpoint (readable by torch.load)", [](CLI::App& app) {
      auto args = std::make_shared<InitArgs>();
      add_preset_option(app, args->config, "gpt2-small (default), gpt2-medium, gpt2-large or gpt2-xl");
      app.add_option("--dtype", args->dtype, "f32 (default), bf16 or f16")
          ->type_name("D")
          ->check(one_of({"f32", "bf16", "f16"}));
      app.add_option("--naming", args->naming, "book (default: the book's GPTModel) or hf (GPT2LMHeadModel)")
          ->type_name("N")
          ->check(one_of({"book", "hf"}));
      app.add_option("--context", args->context, "context length (default: the preset's, 1024)")
          ->type_name("N")
          ->check(integer_in(1, 1 << 20));
      app.add_option("--vocab", args->vocab, "vocabulary size (default: the preset's, 50257)")
          ->type_name("N")
          ->check(integer_in(1, 1 << 24));
      app.add_option("--layers", args->layers, "fewer (or more) blocks than the preset, for small test models")
          ->type_name("N")
          ->check(integer_in(1, 1024));
      app.add_option("--seed", args->seed, "seed of the random weights (default 0)")
          ->type_name("S")
          ->check(integer_in(0, INT64_MAX));
      app.add_option("-o,--output", args->output, "the checkpoint to write")->type_name("OUT.pth")->required();
      return [args] { return run_init(*args); };
    }};

}  // namespace pthrun::cli
