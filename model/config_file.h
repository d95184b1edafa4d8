// What a checkpoint's own configuration says about its architecture: Hugging Face's
// config.json (beside the checkpoint, or inside its folder) or nanoGPT's "model_args" dict
// (inside ckpt.pt). Every field is optional; the shapes of the state dict give the rest, and
// apply_config_file() checks the two agree.
//
//   std::optional<ConfigFile> file = read_model_args(checkpoint.root(), "ckpt.pt");
//   if (!file) file = read_config_json_beside("gpt2-folder/");
//   if (file) apply_config_file(layout.config, *file);   // eps, activation, tied head; checks sizes
//
// Errors name the file and the field, and say what was expected and found.
#pragma once

#include <optional>
#include <string>

#include "loader/value.h"
#include "model/config.h"

namespace pthrun {

struct ConfigFile {
  std::string source;  // "dir/config.json" or "ckpt.pt: model_args"
  std::optional<int64_t> layers, heads, channels, context, vocab_size;
  std::optional<double> layernorm_eps;
  std::optional<Activation> activation;
  std::optional<bool> tied_head;  // HF's tie_word_embeddings
  std::optional<bool> biases;     // nanoGPT's bias
  bool nanogpt = false;           // model_args, whose names differ (block_size)
};

// config.json in the folder `checkpoint_path` names, or beside the file it names; nullopt when
// there is none.
std::optional<ConfigFile> read_config_json_beside(const std::string& checkpoint_path);
// nanoGPT's checkpoint dict: {"model": state_dict, "model_args": {...}, ...}; nullopt when the
// root has no "model_args" dict.
std::optional<ConfigFile> read_model_args(const Value& root, const std::string& checkpoint_path);

// Sets what only the file can say (epsilon, activation) and checks the sizes it gives against
// those the shapes gave.
void apply_config_file(Gpt2Config& config, const ConfigFile& file);

}  // namespace pthrun
