#include "model/config.h"

#include <filesystem>
#include <iterator>

#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/json.h"

namespace pthrun {

namespace {

// Hugging Face's config.json files are a few KiB; one far larger is not one.
constexpr std::size_t kMaxConfigBytes = std::size_t(1) << 20;

constexpr Gpt2Preset gpt2_presets[] = {
    {"gpt2-small", 768, 12, 12},
    {"gpt2-medium", 1024, 24, 16},
    {"gpt2-large", 1280, 36, 20},
    {"gpt2-xl", 1600, 48, 25},
};

std::filesystem::path config_json_beside(const std::string& checkpoint_path) {
  std::filesystem::path path(checkpoint_path);
  if (std::filesystem::is_directory(path)) return path / "config.json";
  return path.parent_path() / "config.json";
}

}  // namespace

std::string Gpt2Config::describe() const {
  return str("GPT-2: ", layers, " layers, ", heads, " heads, width ", channels, ", context ", context,
             ", vocabulary ", vocab_size, qkv_bias ? ", q/k/v bias" : "",
             tied_head ? ", head tied to the embedding" : "");
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
                             std::optional<int64_t> heads_option) {
  auto check = [&](int64_t heads, const std::string& source) {
    PTHRUN_CHECK(heads > 0 && channels % heads == 0, source, " gives ", heads,
                 " heads, which do not divide the width ", channels);
    return HeadCount{heads, source};
  };
  if (heads_option) return check(*heads_option, "--heads");

  const std::filesystem::path config_path = config_json_beside(checkpoint_path);
  if (std::filesystem::is_regular_file(config_path)) {
    const std::string path = config_path.string();
    const std::string text = read_file(path, kMaxConfigBytes);
    const std::optional<int64_t> heads = with_context({path}, [&]() -> std::optional<int64_t> {
      const JsonValue config = parse_json(text);
      for (const char* key : {"n_head", "num_attention_heads"})
        if (json_find(config, key)) return json_int(config, key);
      return std::nullopt;
    });
    if (heads) return check(*heads, path);
  }
  for (const Gpt2Preset& preset : gpt2_presets)
    if (preset.channels == channels) return {preset.heads, str("the GPT-2 preset for width ", channels)};
  throw Error(str("cannot tell the number of attention heads of ", checkpoint_path, " (width ", channels,
                  "): pass --heads N or put a config.json with \"n_head\" beside it"));
}

}  // namespace pthrun
