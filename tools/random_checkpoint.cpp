#include "tools/random_checkpoint.h"

#include "loader/pth_writer.h"
#include "model/export.h"
#include "model/gpt2.h"

namespace pthrun::cli {

Gpt2Config random_config(const Gpt2Preset& preset, Naming naming, int64_t vocab, int64_t context, int64_t layers) {
  Gpt2Config config = preset_config(preset);
  config.vocab_size = vocab;
  config.context = context;
  if (layers > 0) config.layers = layers;
  config.tied_head = naming == Naming::hf;
  return config;
}

void write_random_checkpoint(const Gpt2Config& config, Naming naming, DType dtype, uint64_t seed,
                             const std::string& path) {
  ModelOptions options;
  options.device = cpu_device;
  const auto model = Gpt2Model::create_random(config, options, seed);
  save_state_dict(path, export_state_dict(model->weights(), config, naming, dtype));
}

}  // namespace pthrun::cli
