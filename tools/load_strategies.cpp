#include "tools/load_strategies.h"

#include <chrono>
#include <map>

#include "loader/checkpoint.h"
#include "loader/stream_loader.h"
#include "model/gpt2.h"
#include "model/random_init.h"
#include "model/state_dict_layout.h"
#include "model/weights.h"
#include "runtime/error.h"
#include "runtime/host_memory.h"
#include "runtime/stream.h"

namespace pthrun::cli {

namespace {

// What every strategy starts from: the checkpoint's metadata, checked against GPT-2.
struct Source {
  Checkpoint checkpoint;
  StateDictLayout layout;
  LoadPlan plan;
};

Source open_source(const LoadRun& run) {
  Checkpoint checkpoint = Checkpoint::open(run.checkpoint);
  ModelOptions options;
  options.heads = run.heads;
  options.allow_unused = run.allow_unused;
  auto [layout, plan] = check_checkpoint(checkpoint, run.checkpoint, options);
  return {std::move(checkpoint), std::move(layout), std::move(plan)};
}

Gpt2Weights allocate(const Source& s, Device device, const Stream& stream) {
  Gpt2Weights w = allocate_weights(s.layout.config, s.layout.matrix_layout, device, DType::f32, stream);
  for (const Tensor& bias : s.plan.zero_filled(w)) bias.fill_(0, &stream);  // biases the file lacks
  return w;
}

// Every tensor of the state dict read onto `device`, by name: torch.load(map_location=device).
std::map<std::string, Tensor> state_dict_on(const Source& s, Device device) {
  std::map<std::string, Tensor> state_dict;
  for (const TensorInfo& t : s.layout.tensors) state_dict.emplace(t.name, s.checkpoint.read(t).to(device));
  return state_dict;
}

// load_state_dict: copies each tensor into the model's own buffer.
void copy_in(const Source& s, const Gpt2Weights& w, const std::map<std::string, Tensor>& state_dict) {
  for (const LoadRequest& r : s.plan.requests(w)) r.destination.copy_from(state_dict.at(r.source.name));
}

// Each strategy leaves the model on the device and returns its weights' bytes.
uint64_t naive(const Source& s, Device device, const Stream& stream) {
  Gpt2Weights w = allocate(s, device, stream);
  initialize_weights(w, s.layout.config, 0);  // what a module's constructor does
  std::map<std::string, Tensor> state_dict = state_dict_on(s, device);
  copy_in(s, w, state_dict);
  return w.nbytes();
}

uint64_t sequential(const Source& s, Device device, const Stream& stream) {
  std::map<std::string, Tensor> state_dict = state_dict_on(s, cpu_device);
  Gpt2Weights w = allocate(s, device, stream);
  initialize_weights(w, s.layout.config, 0);
  for (const LoadRequest& r : s.plan.requests(w)) {
    auto it = state_dict.find(r.source.name);
    r.destination.copy_from(it->second);
    state_dict.erase(it);  // the host copy goes as soon as it is on the device
  }
  return w.nbytes();
}

uint64_t meta(const Source& s, Device device, const Stream& stream) {
  Gpt2Weights w = allocate(s, device, stream);  // to_empty: no initialisation
  std::map<std::string, Tensor> state_dict = state_dict_on(s, device);
  copy_in(s, w, state_dict);
  return w.nbytes();
}

uint64_t mmap_assign(const Source& s, Device device, const Stream& stream) {
  // assign=True: the model's tensors are views of the mapped file.
  std::map<std::string, Tensor> state_dict;
  for (const TensorInfo& t : s.plan.sources()) state_dict.emplace(t.name, s.checkpoint.map(t));
  if (device.is_cpu()) {
    // On the CPU, model.to("cpu") keeps those views: the weights are the file's pages, read
    // here once as the first forward pass would read them.
    uint64_t bytes = 0;
    volatile uint8_t sink = 0;
    for (const auto& [name, view] : state_dict) {
      const auto* p = static_cast<const uint8_t*>(view.data_ptr());
      for (uint64_t i = 0; i < view.nbytes(); i += 4096) sink = sink + p[i];
      bytes += view.nbytes();
    }
    return bytes;
  }
  Gpt2Weights w = allocate(s, device, stream);  // model.to(device)
  copy_in(s, w, state_dict);
  return w.nbytes();
}

uint64_t per_tensor(const Source& s, const LoadRun& run, Device device, const Stream& stream) {
  PTHRUN_CHECK(!run.per_tensor_dir.empty(), "the per_tensor strategy needs the checkpoint as one file per tensor");
  Gpt2Weights w = allocate(s, device, stream);
  initialize_weights(w, s.layout.config, 0);
  for (const LoadRequest& r : s.plan.requests(w)) {
    const Checkpoint file = Checkpoint::open(run.per_tensor_dir + "/" + r.source.name + ".pth");
    r.destination.copy_from(file.read(file.tensors().at(0)).to(device));
  }
  return w.nbytes();
}

uint64_t streaming(const Source& s, Device device, const Stream& stream) {
  Gpt2Weights w = allocate(s, device, stream);
  LoadOptions options;
  load_tensors(s.checkpoint, s.plan.requests(w), options);
  return w.nbytes();
}

uint64_t model_load(const LoadRun& run) {
  ModelOptions options;
  options.device = run.device;
  options.heads = run.heads;
  options.mmap = true;
  const auto model = Gpt2Model::load(run.checkpoint, options);
  // The mapped weights' pages are read here once, as the first forward pass would read them
  // (as for mmap above).
  Gpt2Weights w = model->weights();
  volatile uint8_t sink = 0;
  for (const Tensor* t : w.fields())
    if (t->defined() && t->device().is_cpu())
      for (uint64_t i = 0; i < t->nbytes(); i += 4096) sink = sink + static_cast<const uint8_t*>(t->data_ptr())[i];
  return w.nbytes();
}

}  // namespace

const std::vector<LoadStrategy>& load_strategies() {
  static const std::vector<LoadStrategy> strategies = {
      {"naive", "model on the device, state dict on the device, load_state_dict"},
      {"sequential", "state dict in host memory, copied tensor by tensor"},
      {"meta", "meta model, to_empty, state dict straight onto the device"},
      {"mmap", "meta model, mmap'd state dict assigned, model moved to the device"},
      {"per_tensor", "one file per tensor, loaded one at a time into the model"},
      {"pthrun", "pthrun: stream each tensor from the mapping into its buffer"},
      {"pthrun_mmap", "pthrun's model: weights already in its dtype used in place (CPU)"},
  };
  return strategies;
}

LoadMeasurement measure_strategy(const std::string& key, const LoadRun& run) {
  reset_peak_rss();
  HostMemorySampler sampler;
  Allocator& allocator = device_allocator(run.device);
  allocator.reset_peak();
  const auto start = std::chrono::steady_clock::now();

  const Source source = open_source(run);
  const Stream stream = Stream::create(run.device);
  uint64_t weights = 0;
  if (key == "naive") weights = naive(source, run.device, stream);
  else if (key == "sequential") weights = sequential(source, run.device, stream);
  else if (key == "meta") weights = meta(source, run.device, stream);
  else if (key == "mmap") weights = mmap_assign(source, run.device, stream);
  else if (key == "per_tensor") weights = per_tensor(source, run, run.device, stream);
  else if (key == "pthrun") weights = streaming(source, run.device, stream);
  else if (key == "pthrun_mmap") weights = model_load(run);
  else throw UsageError(str("unknown strategy '", key, "'"));
  stream.synchronize();

  LoadMeasurement m;
  m.strategy = key;
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const AllocatorStats stats = allocator.stats();
  m.device_peak_allocated = stats.allocated_bytes[all_pools].peak;
  m.device_peak_reserved = stats.reserved_bytes[all_pools].peak;
  const HostMemory host = sampler.peak();
  m.host_peak_rss = host.peak_rss;
  m.host_peak_anon = host.anon_rss;
  m.weights_bytes = weights;
  return m;
}

}  // namespace pthrun::cli
