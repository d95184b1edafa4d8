#include "tools/model_options.h"

#include <cstdio>
#include <mutex>
#include <set>
#include <vector>

#include "runtime/device.h"
#include "runtime/quote.h"
#include "runtime/error.h"
#include "tools/progress_bar.h"

namespace pthrun::cli {

namespace {

CLI::Validator device_syntax() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        try {
          (void)parse_device(text);
        } catch (const Error& e) {
          return e.what();
        }
        return {};
      },
      "");
}

// Any dtype name: whether the model can run in it is the model's to say (exit status 1).
CLI::Validator dtype_syntax() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return parse_dtype(text) ? std::string() : str("expected f32, bf16, f16 or int8, got '", text, "'");
      },
      "");
}

}  // namespace

void add_device_option(CLI::App& app, std::string& device, const char* help) {
  app.add_option("--device", device, help)->type_name("D")->check(device_syntax());
}

void add_preset_option(CLI::App& app, std::string& name, const char* help) {
  std::size_t count = 0;
  const Gpt2Preset* all = presets(&count);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < count; ++i) names.push_back(all[i].name);
  app.add_option("--config", name, help)->type_name("NAME")->check(one_of(names));
}

void add_model_options(CLI::App& app, ModelArgs& args) {
  add_device_option(app, args.device, "cpu, cuda or cuda:N (default: cuda when present, else cpu)");
  app.add_option("--dtype", args.dtype, "f32, bf16, f16 or int8 (default f32; int8 on the CPU only)")
      ->type_name("D")
      ->check(dtype_syntax());
  app.add_option("--kv-dtype", args.kv_dtype,
                 "the KV cache's dtype: f32, bf16 or f16 (default: f16 on the CPU for bf16, f16 and int8 weights, "
                 "else the activations')")
      ->type_name("D")
      ->check(one_of({"f32", "bf16", "f16"}));
  app.add_option("--heads", args.heads,
                 "attention heads (default: config.json beside the checkpoint, else the GPT-2 preset for the width)")
      ->type_name("N")
      ->check(integer_in(1, 4096));
  app.add_option("--key", args.key, "the state dict's entry in a checkpoint dict, e.g. model_state_dict")->type_name("K");
  app.add_flag("--tf32", args.tf32, "let f32 matrix products on the GPU use TF32 tensor cores");
  app.add_flag("--verify", args.verify, "check every record loaded against its zip CRC-32");
  app.add_flag("--no-mmap", args.no_mmap,
               "copy every weight out of the file (default on the CPU: weights already in the model's dtype are "
               "used in place, from the mapped file)");
  app.add_flag("--allow-unused", args.allow_unused,
               "ignore tensors of the state dict that GPT-2 does not use (PyTorch's strict=False)");
}

namespace {

// The process's notes, in order, each once: the command line's own output channel, like stderr.
struct Notes {
  std::mutex mutex;
  std::set<std::string> seen;
  std::vector<std::string> pending;
};
Notes& notes() {
  static Notes n;
  return n;
}

}  // namespace

std::function<void(const std::string&)> stderr_notes() {
  return [](const std::string& line) {
    Notes& n = notes();
    std::lock_guard lock(n.mutex);
    if (n.seen.insert(line).second) n.pending.push_back(line);
  };
}

void print_notes() {
  Notes& n = notes();
  std::lock_guard lock(n.mutex);
  for (const std::string& line : n.pending) std::fprintf(stderr, "note: %s\n", printable(line, 4096).c_str());
  n.pending.clear();
}

Device parse_device_option(const std::string& text) {
  try {
    return parse_device(text);
  } catch (const Error& e) {
    throw UsageError(str("option --device: ", e.what()));
  }
}

ModelOptions model_options(const ModelArgs& args) {
  ModelOptions options;
  if (!args.device.empty()) {
    options.device = parse_device_option(args.device);
    const std::string problem = device_problem(*options.device);
    PTHRUN_CHECK(problem.empty(), "--device ", args.device, ": ", problem);
  }
  options.dtype = *parse_dtype(args.dtype);  // checked while parsing
  if (!args.kv_dtype.empty()) options.kv_dtype = *parse_dtype(args.kv_dtype);
  options.heads = args.heads;
  options.key = args.key;
  options.load.on_progress = progress_bar("loading");
  options.tf32 = args.tf32;
  options.load.verify = args.verify;
  options.mmap = !args.no_mmap;
  options.allow_unused = args.allow_unused;
  options.on_note = stderr_notes();
  return options;
}

}  // namespace pthrun::cli
