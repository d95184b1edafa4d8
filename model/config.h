// GPT-2's hyperparameters: read from a checkpoint's tensor shapes (read_layout() in
// state_dict_layout.h), plus what shapes cannot give (the head count, the activation, the
// LayerNorm epsilon), which come from a config file (model/config_file.h).
//
//   StateDictLayout layout = read_layout(checkpoint.state_dict(), "model.pth", config_file);
//   HeadCount h = resolve_head_count("model.pth", layout.config.channels, heads_option, config_file);
//
// The head count comes from, in order: --heads N; the checkpoint's config (config.json's
// "n_head", nanoGPT's model_args); the GPT-2 preset for the width (768/1024/1280/1600 ->
// 12/16/20/25), which the caller is told about (HeadCount::from_preset); else an error that
// asks for --heads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace pthrun {

// The MLP's GELU: GPT-2 (OpenAI's, Hugging Face's, the book's) uses the tanh approximation,
// nanoGPT PyTorch's exact erf form (nn.GELU()). They differ by up to 5e-4 per activation.
enum class Activation { gelu_tanh, gelu_erf };
const char* activation_name(Activation activation);  // "gelu_tanh", "gelu_erf"

struct Gpt2Config {
  int64_t vocab_size = 0;   // V
  int64_t context = 0;      // T_max: learned positions
  int64_t channels = 0;     // C
  int64_t layers = 0;       // L
  int64_t heads = 0;        // NH
  bool qkv_bias = false;
  bool tied_head = false;   // the output head is the token embedding
  bool biases = true;       // Linear and LayerNorm biases; nanoGPT's bias=False has none (zeros)
  float layernorm_eps = 1e-5f;
  Activation activation = Activation::gelu_tanh;
  std::string heads_source = {};  // where `heads` came from (HeadCount::source); empty: not resolved

  int64_t head_size() const { return channels / heads; }  // HS
  std::string describe() const;
};

// Where the head count came from, for messages.
struct HeadCount {
  int64_t heads = 0;
  std::string source;  // "--heads", "dir/config.json", "ckpt.pt: model_args", "the GPT-2 preset for width 768"
  bool from_preset = false;
};

struct ConfigFile;
// `config_file`: the checkpoint's config, when it has one. Throws pthrun::Error asking for
// --heads when nothing gives the count.
HeadCount resolve_head_count(const std::string& checkpoint_path, int64_t channels,
                             std::optional<int64_t> heads_option, const ConfigFile* config_file);

// GPT-2's published sizes, for `pthrun init` and benchmarks.
struct Gpt2Preset {
  const char* name;  // "gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl"
  int64_t channels, layers, heads;
};
// OpenAI's GPT-2 vocabulary and context, shared by every published size.
inline constexpr int64_t kGpt2VocabSize = 50257;
inline constexpr int64_t kGpt2Context = 1024;
// OpenAI's GPT-2 of that size: its vocabulary and context, q/k/v biases and the output head
// tied to the token embedding.
Gpt2Config preset_config(const Gpt2Preset& preset);
const Gpt2Preset* find_preset(const std::string& name);
// All presets, smallest first; `count` receives their number.
const Gpt2Preset* presets(std::size_t* count);

}  // namespace pthrun
