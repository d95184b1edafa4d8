#include "model/config.h"

#include <iterator>

#include "model/config_file.h"
#include "runtime/error.h"

namespace pthrun {

namespace {

constexpr Gpt2Preset gpt2_presets[] = {
    {"gpt2-small", 768, 12, 12},
    {"gpt2-medium", 1024, 24, 16},
    {"gpt2-large", 1280, 36, 20},
    {"gpt2-xl", 1600, 48, 25},
};

}  // namespace

const char* activation_name(Activation activation) {
  return activation == Activation::gelu_erf ? "gelu_erf" : "gelu_tanh";
}

std::string Gpt2Config::describe() const {
  return str("GPT-2: ", layers, " layers, ", heads, " heads, width ", channels, ", context ", context,
             ", vocabulary ", vocab_size, qkv_bias ? ", q/k/v bias" : "", biases ? "" : ", no biases",
             tied_head ? ", head tied to the embedding" : "",
             activation == Activation::gelu_erf ? ", exact (erf) GELU" : "");
}

Gpt2Config preset_config(const Gpt2Preset& preset) {
  Gpt2Config config;
  config.vocab_size = kGpt2VocabSize;
  config.context = kGpt2Context;
  config.channels = preset.channels;
  config.layers = preset.layers;
  config.heads = preset.heads;
  config.qkv_bias = true;
  config.tied_head = true;
  return config;
}

const Gpt2Preset* find_preset(const std::string& name) {
  for (const Gpt2Preset& preset : gpt2_presets)
    if (name == preset.name) return &preset;
  return nullptr;
}

const Gpt2Preset* presets(std::size_t* count) {
  *count = std::size(gpt2_presets);
  return gpt2_presets;
}

HeadCount resolve_head_count(const std::string& checkpoint_path, int64_t channels,
                             std::optional<int64_t> heads_option, const ConfigFile* config_file) {
  auto check = [&](int64_t heads, const std::string& source) {
    PTHRUN_CHECK(heads > 0 && channels % heads == 0, source, " gives ", heads,
                 " heads, which do not divide the width ", channels);
    return HeadCount{heads, source};
  };
  if (heads_option) return check(*heads_option, "--heads");
  if (config_file && config_file->heads) return check(*config_file->heads, config_file->source);
  for (const Gpt2Preset& preset : gpt2_presets)
    if (preset.channels == channels) return {preset.heads, str("the GPT-2 preset for width ", channels), true};
  throw Error(str("cannot tell the number of attention heads of ", checkpoint_path, " (width ", channels,
                  "): pass --heads N or put a config.json with \"n_head\" beside it"));
}

}  // namespace pthrun
