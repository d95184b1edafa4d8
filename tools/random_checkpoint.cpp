#include "tools/random_checkpoint.h"

#include "loader/pth_writer.h"
#include "model/export.h"
#include "model/gpt2.h"

namespace pthrun::cli {

Gpt2Config random_config(const Gpt2Preset& preset, Naming naming, int64_t vocab, int64_t context, int64_t layers) {
  Gpt2Config config;
  config.vocab_size = vocab;
  config.context = context;
  config.channels = preset.channels;
  config.layers = layers > 0 ? layers : preset.layers;
  config.heads = preset.heads;
  config.qkv_bias = true;
  config.tied_head = naming == Naming::hf;
  return config;
}

void write_random_checkpoint(const Gpt2Config& config, Naming naming, DType dtype, uint64_t seed,
                             const std::string& path) {
  ModelOptions options;
  options.device = cpu_device;
  Gpt2 model = Gpt2::create_random(config, options, seed);
  save_state_dict(path, export_state_dict(model.weights(), config, naming, dtype));
}

}  // namespace pthrun::cli
