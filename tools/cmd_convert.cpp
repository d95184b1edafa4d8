// pthrun convert: a checkpoint in another dtype, in the other naming (book <-> Hugging Face),
// or as a folder with one file per tensor.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <optional>

#include "loader/pth_writer.h"
#include "model/export.h"
#include "model/gpt2.h"
#include "runtime/error.h"
#include "tools/cli.h"
#include "tools/model_options.h"
#include "tools/progress_bar.h"
#include "tools/model_options.h"

namespace pthrun::cli {

namespace {

namespace fs = std::filesystem;

// One torch.save(tensor) file per tensor, named after it; the folder appears only when complete.
void save_per_tensor_folder(const std::string& dir, const std::vector<std::pair<std::string, Tensor>>& tensors) {
  PTHRUN_CHECK(!fs::exists(dir), dir, " already exists: the per-tensor folder must be new");
  const fs::path temp = str(dir, ".tmp-", ::getpid());
  fs::remove_all(temp);
  fs::create_directories(temp);
  try {
    for (const auto& [name, tensor] : tensors)
      save_checkpoint((temp / (name + ".pth")).string(), Value::tensor(0), {tensor});
    fs::rename(temp, dir);
  } catch (...) {
    fs::remove_all(temp);
    throw;
  }
}

struct ConvertArgs {
  std::string checkpoint, output, naming, dtype, key;
  std::optional<int64_t> heads;
  bool per_tensor = false, allow_unused = false;
};

int run_convert(const ConvertArgs& args) {
  ModelOptions options;
  options.device = cpu_device;  // loaded in f32 on the CPU; --dtype is the output's
  options.heads = args.heads;
  options.key = args.key;
  options.load.on_progress = progress_bar("loading");
  options.allow_unused = args.allow_unused;
  options.on_note = stderr_notes();
  const auto model = Gpt2Model::load(args.checkpoint, options);
  // A state dict records weights, not the activation: the output alone reads as tanh GELU.
  if (model->config().activation == Activation::gelu_erf)
    options.on_note(str(args.checkpoint, " uses the exact (erf) GELU, which the written state dict does not record; "
                                         "beside a config.json with \"activation_function\": \"gelu\" it loads as it was"));
  const Naming naming = args.naming.empty() ? model->naming() : args.naming == "book" ? Naming::book : Naming::hf;
  const DType dtype = args.dtype.empty() ? model->checkpoint_dtype() : *parse_dtype(args.dtype);
  const auto state_dict = export_state_dict(model->weights(), model->config(), naming, dtype);
  if (args.per_tensor) save_per_tensor_folder(args.output, state_dict);
  else save_state_dict(args.output, state_dict);
  std::printf("wrote %s: %s naming, %s%s\n", args.output.c_str(), naming_name(naming), dtype_name(dtype),
              args.per_tensor ? ", one file per tensor" : "");
  return 0;
}

}  // namespace

extern const Command convert_command = {
    "convert", "Write a checkpoint in another dtype, naming (book <-> hf) or as one file per tensor",
    [](CLI::App& app) {
      auto args = std::make_shared<ConvertArgs>();
      app.add_option("CKPT", args->checkpoint, "the checkpoint to convert")->required();
      app.add_option("-o,--output", args->output, "the checkpoint to write (a folder with --per-tensor)")
          ->type_name("OUT")
          ->required();
      app.add_option("--naming", args->naming, "book or hf (default: the input's)")
          ->type_name("N")
          ->check(one_of({"book", "hf"}));
      app.add_flag("--allow-unused", args->allow_unused, "ignore tensors of the state dict that GPT-2 does not use");
      app.add_option("--dtype", args->dtype, "f32, bf16 or f16 (default: the input's)")
          ->type_name("D")
          ->check(one_of({"f32", "bf16", "f16"}));
      app.add_flag("--per-tensor", args->per_tensor, "write a folder holding one <name>.pth per tensor");
      app.add_option("--heads", args->heads, "attention heads, when neither config.json nor a GPT-2 preset says")
          ->type_name("N")
          ->check(integer_in(1, 4096));
      app.add_option("--key", args->key, "the state dict's entry in a checkpoint dict")->type_name("K");
      return [args] { return run_convert(*args); };
    }};

}  // namespace pthrun::cli
