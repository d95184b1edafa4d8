// Options every model command shares (--device, --dtype, --heads, --key, --tf32, --verify,
// --allow-unused),
// declared and read in one place.
//
//   ModelArgs model;
//   add_model_options(app, model);            // in a command's definition
//   ModelOptions options = model_options(model);   // when it runs
#pragma once

#include <optional>
#include <string>

#include "model/gpt2.h"
#include "tools/cli.h"

namespace pthrun::cli {

struct ModelArgs {
  std::string device;             // "" : the default device
  std::string dtype = "f32";
  std::optional<int64_t> heads;
  std::string key;
  bool tf32 = false;
  bool verify = false;
  bool allow_unused = false;
};

void add_model_options(CLI::App& app, ModelArgs& args);
// Throws pthrun::Error for a device that is not there. The options' notes about the
// checkpoint go to stderr, each line once.
ModelOptions model_options(const ModelArgs& args);
// The device option's value, checked: a syntax error is a UsageError.
Device parse_device_option(const std::string& text);
// --device alone, for commands that take no checkpoint.
void add_device_option(CLI::App& app, std::string& device, const char* help);
// --config NAME: one of GPT-2's presets (gpt2-small ... gpt2-xl).
void add_preset_option(CLI::App& app, std::string& name, const char* help);

}  // namespace pthrun::cli
