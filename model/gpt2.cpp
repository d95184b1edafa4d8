#include "model/gpt2.h"

#include "model/config_file.h"
#include "model/random_init.h"
#include "model/session.h"
#include "runtime/error.h"

namespace pthrun {

Gpt2Model::Gpt2Model(const ModelOptions& options)
    : device_(options.device.value_or(default_device())), dtype_(options.dtype), matmul_{.allow_tf32 = options.tf32} {
  PTHRUN_CHECK(is_floating(dtype_) && dtype_ != DType::f64, "--dtype ", dtype_short_name(dtype_),
               ": expected f32, bf16 or f16");
  PTHRUN_CHECK(device_.is_cuda() || dtype_ == DType::f32, "--dtype ", dtype_short_name(dtype_),
               " needs a CUDA device; the CPU runs f32");
  if (device_.is_cuda()) set_current_device(device_);
}

CheckedCheckpoint check_checkpoint(const Checkpoint& checkpoint, const std::string& path, const ModelOptions& options) {
  auto note = [&](const std::string& line) {
    if (options.on_note) options.on_note(line);
  };
  std::optional<ConfigFile> config_file = read_model_args(checkpoint.root(), path);
  if (!config_file) config_file = read_config_json_beside(path);
  const ConfigFile* file = config_file ? &*config_file : nullptr;
  StateDictLayout layout = read_layout(checkpoint.state_dict(options.key), path, file);
  const HeadCount heads = resolve_head_count(path, layout.config.channels, options.heads, file);
  layout.config.heads = heads.heads;
  layout.config.heads_source = heads.source;
  if (heads.from_preset)
    note(str(path, ": ", heads.heads, " attention heads from ", heads.source,
             " (no --heads, config.json or model_args); pass --heads N if the model has another count"));
  LoadPlan plan = plan_load(layout, options.allow_unused);
  for (const std::string& line : plan.notes()) note(line);
  return {std::move(layout), std::move(plan)};
}

Gpt2Config Gpt2Model::read_config(const std::string& path, const ModelOptions& options) {
  return check_checkpoint(Checkpoint::open(path), path, options).layout.config;
}

std::shared_ptr<const Gpt2Model> Gpt2Model::load(const std::string& path, const ModelOptions& options) {
  std::shared_ptr<Gpt2Model> model(new Gpt2Model(options));

  // Everything about the checkpoint is checked before the first byte of device memory is
  // taken, so that a bad file costs nothing and leaves nothing half-built.
  Checkpoint checkpoint = Checkpoint::open(path);
  auto [layout, plan] = check_checkpoint(checkpoint, path, options);
  model->config_ = layout.config;
  model->naming_ = layout.naming;
  model->checkpoint_dtype_ = layout.dtype;

  const Stream stream = Stream::create(model->device_);
  model->weights_ = allocate_weights(model->config_, layout.matrix_layout, model->device_, model->dtype_, stream);
  for (const Tensor& bias : plan.zero_filled(model->weights_)) bias.fill_(0, &stream);
  model->load_stats_ = load_tensors(checkpoint, plan.requests(model->weights_), options.load);
  stream.synchronize();  // sessions read the weights from streams of their own
  return model;
}

std::shared_ptr<const Gpt2Model> Gpt2Model::create_random(const Gpt2Config& config, const ModelOptions& options,
                                                          uint64_t seed) {
  PTHRUN_CHECK(config.heads > 0 && config.channels % config.heads == 0, "width ", config.channels,
               " does not split into ", config.heads, " heads");
  std::shared_ptr<Gpt2Model> model(new Gpt2Model(options));
  model->config_ = config;
  const Stream stream = Stream::create(model->device_);
  model->weights_ = allocate_weights(config, kernels::WeightLayout::out_in, model->device_, model->dtype_, stream);
  initialize_weights(model->weights_, config, seed);
  stream.synchronize();
  return model;
}

void Gpt2Model::check_tokens(std::span<const int32_t> tokens) const {
  for (std::size_t i = 0; i < tokens.size(); ++i)
    PTHRUN_CHECK(tokens[i] >= 0 && tokens[i] < config_.vocab_size, "token ", tokens[i], " at position ", i,
                 " is outside the vocabulary of ", config_.vocab_size, " ids");
}

Tensor Gpt2Model::forward(std::span<const int32_t> tokens) const {
  const auto n = static_cast<int64_t>(tokens.size());
  PTHRUN_CHECK(n >= 1, "forward of an empty token list");
  PTHRUN_CHECK(n <= config_.context, n, " tokens are more than the model's context of ", config_.context);
  Session session(shared_from_this(), {.slots = 1, .max_tokens = n, .cuda_graphs = false});
  return session.forward(tokens);
}

}  // namespace pthrun
