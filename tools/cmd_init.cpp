// pthrun init: a randomly initialised GPT-2 checkpoint that torch.load reads.
#include <cstdio>

#include "loader/pth_writer.h"
#include "model/config.h"
#include "model/export.h"
#include "model/gpt2.h"
#include "runtime/error.h"
#include "tools/cli.h"

namespace pthrun::cli {

namespace {

int run_init(const ParsedArgs& args) {
  args.max_positional(0);
  const auto output = args.get("output");
  if (!output) throw UsageError("missing -o OUT.pth");
  const std::string name = args.get_or("config", "gpt2-small");
  const Gpt2Preset* preset = find_preset(name);
  if (!preset) throw UsageError(str("option --config: unknown '", name, "' (gpt2-small, gpt2-medium, gpt2-large, gpt2-xl)"));
  const auto dtype = parse_dtype(args.get_or("dtype", "f32"));
  if (!dtype || !is_floating(*dtype) || *dtype == DType::f64)
    throw UsageError(str("option --dtype: expected f32, bf16 or f16, got '", args.get_or("dtype", ""), "'"));
  const std::string naming_text = args.get_or("naming", "book");
  if (naming_text != "book" && naming_text != "hf") throw UsageError("option --naming: expected book or hf");
  const Naming naming = naming_text == "book" ? Naming::book : Naming::hf;

  Gpt2Config config;
  config.vocab_size = args.get_int("vocab", 50257, 1, 1 << 24);
  config.context = args.get_int("context", 1024, 1, 1 << 20);
  config.channels = preset->channels;
  config.layers = args.get_int("layers", preset->layers, 1, 1024);
  config.heads = preset->heads;
  config.qkv_bias = true;
  // The book's GPTModel has an output head of its own; Hugging Face's is tied to wte.
  config.tied_head = naming == Naming::hf;

  ModelOptions options;
  options.device = cpu_device;
  Gpt2 model = Gpt2::create_random(config, options, static_cast<uint64_t>(args.get_int("seed", 0, 0, INT64_MAX)));
  save_state_dict(*output, export_state_dict(model.weights(), config, naming, *dtype));
  std::printf("wrote %s: %s, %s naming, %s\n", output->c_str(), config.describe().c_str(),
              naming_name(naming), dtype_name(*dtype));
  return 0;
}

}  // namespace

extern const CommandSpec init_command = {
    "init",
    "Write a randomly initialised GPT-2 checkpoint (readable by torch.load)",
    "",
    {{"config", 0, "NAME", "gpt2-small (default), gpt2-medium, gpt2-large or gpt2-xl"},
     {"dtype", 0, "D", "f32 (default), bf16 or f16"},
     {"naming", 0, "N", "book (default: the book's GPTModel) or hf (GPT2LMHeadModel)"},
     {"context", 0, "N", "context length (default 1024)"},
     {"vocab", 0, "N", "vocabulary size (default 50257)"},
     {"layers", 0, "N", "fewer (or more) blocks than the preset, for small test models"},
     {"seed", 0, "S", "seed of the random weights (default 0)"},
     {"output", 'o', "OUT.pth", "the checkpoint to write"}},
    run_init};

}  // namespace pthrun::cli
