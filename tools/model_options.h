// Options every model command shares (--device, --dtype, --kv-dtype, --heads, --key, --tf32, --verify,
// --no-mmap, --allow-unused),
// declared and read in one place.
//
//   ModelArgs model;
//   add_model_options(app, model);            // in a command's definition
//   ModelOptions options = model_options(model);   // when it runs
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "model/gpt2.h"
#include "tools/cli.h"

namespace pthrun::cli {

struct ModelArgs {
  std::string device;             // "" : the default device
  std::string dtype = "f32";
  std::string kv_dtype;           // "" : default_kv_dtype()
  std::optional<int64_t> heads;
  std::string key;
  bool tf32 = false;
  bool verify = false;
  bool no_mmap = false;
  bool allow_unused = false;
};

void add_model_options(CLI::App& app, ModelArgs& args);
// Throws pthrun::Error for a device that is not there. The options' notes about the
// checkpoint go to stderr_notes().
ModelOptions model_options(const ModelArgs& args);
// Collects the model's notes about a checkpoint (skipped buffers, heads from a preset), each
// line once (commands check a checkpoint before they load it), for print_notes().
std::function<void(const std::string&)> stderr_notes();
// Prints the notes collected so far on stderr ("note: ..."), and forgets them. main() calls it
// when a command succeeds, so that a failing command still says one line, its error; serve
// calls it once its model is loaded.
void print_notes();
// The device option's value, checked: a syntax error is a UsageError.
Device parse_device_option(const std::string& text);
// --device alone, for commands that take no checkpoint.
void add_device_option(CLI::App& app, std::string& device, const char* help);
// --config NAME: one of GPT-2's presets (gpt2-small ... gpt2-xl).
void add_preset_option(CLI::App& app, std::string& name, const char* help);

}  // namespace pthrun::cli
