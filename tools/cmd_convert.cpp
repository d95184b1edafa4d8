// pthrun convert: a checkpoint in another dtype, in the other naming (book <-> Hugging Face),
// or as a folder with one file per tensor.
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "loader/pth_writer.h"
#include "model/export.h"
#include "model/gpt2.h"
#include "runtime/error.h"
#include "tools/cli.h"
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

int run_convert(const ParsedArgs& args) {
  args.max_positional(1);
  const std::string& input = args.positional(0, "the checkpoint to convert (CKPT)");
  const auto output = args.get("output");
  if (!output) throw UsageError("missing -o OUT");
  ModelOptions options = model_options(args);
  if (options.device && !options.device->is_cpu()) throw UsageError("convert runs on the CPU; drop --device");
  if (args.has("dtype")) options.dtype = DType::f32;  // loaded in f32; --dtype is the output's
  options.device = cpu_device;
  const auto model = Gpt2Model::load(input, options);

  Naming naming = model->naming();
  if (auto text = args.get("naming")) {
    if (*text != "book" && *text != "hf") throw UsageError("option --naming: expected book or hf");
    naming = *text == "book" ? Naming::book : Naming::hf;
  }
  DType dtype = model->checkpoint_dtype();
  if (auto text = args.get("dtype")) {
    auto parsed = parse_dtype(*text);
    if (!parsed || !is_floating(*parsed) || *parsed == DType::f64)
      throw UsageError(str("option --dtype: expected f32, bf16 or f16, got '", *text, "'"));
    dtype = *parsed;
  }
  const auto state_dict = export_state_dict(model->weights(), model->config(), naming, dtype);
  if (args.has("per-tensor")) save_per_tensor_folder(*output, state_dict);
  else save_state_dict(*output, state_dict);
  std::printf("wrote %s: %s naming, %s%s\n", output->c_str(), naming_name(naming), dtype_name(dtype),
              args.has("per-tensor") ? ", one file per tensor" : "");
  return 0;
}

}  // namespace

extern const CommandSpec convert_command = {
    "convert",
    "Write a checkpoint in another dtype, naming (book <-> hf) or as one file per tensor",
    "CKPT",
    {{"output", 'o', "OUT", "the checkpoint to write (a folder with --per-tensor)"},
     {"naming", 0, "N", "book or hf (default: the input's)"},
     {"dtype", 0, "D", "f32, bf16 or f16 (default: the input's)"},
     {"per-tensor", 0, nullptr, "write a folder holding one <name>.pth per tensor"},
     {"heads", 0, "N", "attention heads, when neither config.json nor a GPT-2 preset says"},
     {"key", 0, "K", "the state dict's entry in a checkpoint dict"}},
    run_convert};

}  // namespace pthrun::cli
