// A GPT-2 model: its configuration and weights, loaded once and never changed afterwards, so
// that any number of sessions (model/session.h) can share it, from several threads.
//
//   std::shared_ptr<const Gpt2Model> model = Gpt2Model::load("model.pth", {.dtype = DType::bf16});
//   Session a(model, {.slots = 4}), b(model);                // two sessions, one set of weights
//   Tensor logits = model->forward(prompt);                  // every position's logits, on the CPU
//
// The model owns what is fixed after loading: config, naming, weights, load statistics and the
// numerics of its products (TF32). Everything that changes while generating (streams, KV
// caches, activations, graphs, samplers) belongs to a Session.
//
// Note [CPU weight dtypes]. On the CPU, --dtype bf16, f16 or int8 changes what the matrices are
// stored in, not the arithmetic: the block matrices and the head hold bf16, f16 or int8 values
// (int8: symmetric, one f32 scale per 64 inputs of an output, kernels/linear_weight.h), while
// the embeddings, LayerNorms, biases, activations and every sum stay f32. Decode is
// bound by the bytes of weights it streams per token, so this is where the time goes; the small
// tensors cost memory only. int8 is quantized while the checkpoint streams by (Int8Sink in
// gpt2.cpp): the f32 matrices never exist in memory, not even one whole at a time.
//
// Note [KV cache dtype]. Attention at position t reads every cached key and value of the
// sequence: 2 x layers x t x channels elements a token (74 MB at position 1000 of gpt2-small
// in f32), more than a step of int8 weights (130 MB) soon. On a GPU the cache holds the
// activations' dtype. On the CPU it holds f32 for an f32 model, so that the logits are
// PyTorch's to f32 rounding; for bf16, f16 and int8 weights it holds f16 by default (as
// llama.cpp's does), halving those bytes: the user has chosen reduced precision already, and
// f16 keeps 11 significant bits of each key and value, which moves the logits far less than
// the weights' rounding does (the README's "Quality" table). --kv-dtype f32|bf16|f16 chooses.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "kernels/matmul.h"
#include "loader/stream_loader.h"
#include "model/config.h"
#include "model/state_dict_layout.h"
#include "model/weights.h"
#include "runtime/device.h"
#include "runtime/stream.h"

namespace pthrun {

struct ModelOptions {
  std::optional<Device> device;    // default: cuda:0 when present, else the CPU
  DType dtype = DType::f32;        // f32, bf16 or f16; int8 (i8) on the CPU (note [CPU weight dtypes])
  std::optional<int64_t> heads;    // see resolve_head_count()
  std::string key;                 // the state dict's entry in a checkpoint dict
  LoadOptions load;
  bool tf32 = false;               // f32 products on the GPU may use TF32 tensor cores
  // The KV cache's dtype in every session of the model (note [KV cache dtype]); default:
  // default_kv_dtype().
  std::optional<DType> kv_dtype;
  // CPU: weights whose checkpoint tensor already has the model's dtype and layout are views
  // of the mapped file, not copies (note [Zero-copy weights] in gpt2.cpp); false: copy all.
  bool mmap = true;
  bool allow_unused = false;       // ignore extra tensors in the state dict (PyTorch's strict=False)
  // One-line notes about the checkpoint (skipped buffers, a head count from a preset), for
  // the user; none are made when unset.
  std::function<void(const std::string&)> on_note;
};

// A checkpoint checked against GPT-2 from its metadata alone: its layout with every
// hyperparameter resolved (heads, activation, epsilon: config.json or nanoGPT's model_args)
// and the plan that fills the weights. Every check a load makes before it allocates; the notes
// go to options.on_note.
struct CheckedCheckpoint {
  StateDictLayout layout;
  LoadPlan plan;
};
CheckedCheckpoint check_checkpoint(const Checkpoint& checkpoint, const std::string& path,
                                   const ModelOptions& options);

// The KV cache's dtype when ModelOptions::kv_dtype is unset: f16 for a CPU model of bf16, f16
// or int8 weights, else the activations' (note [KV cache dtype]).
DType default_kv_dtype(Device device, DType weight_dtype);

class Gpt2Model : public std::enable_shared_from_this<Gpt2Model> {
 public:
  // Validates the checkpoint against GPT-2 before allocating anything, then allocates every
  // weight once and streams the checkpoint into them. Returns once the weights are in place.
  static std::shared_ptr<const Gpt2Model> load(const std::string& path, const ModelOptions& options = {});
  // What load() would build, checked as load() checks it (every tensor's name, shape and
  // dtype), from the checkpoint's metadata alone: no weight is allocated or read.
  static Gpt2Config read_config(const std::string& path, const ModelOptions& options = {});
  // A model with random GPT-2-like weights (random_init.h) and no checkpoint, for benchmarks.
  // The config's heads must be set.
  static std::shared_ptr<const Gpt2Model> create_random(const Gpt2Config& config, const ModelOptions& options,
                                                        uint64_t seed);
  Gpt2Model(const Gpt2Model&) = delete;
  Gpt2Model& operator=(const Gpt2Model&) = delete;

  const Gpt2Config& config() const { return config_; }
  Naming naming() const { return naming_; }
  // The dtype the checkpoint stores its weights in (its token embedding's).
  DType checkpoint_dtype() const { return checkpoint_dtype_; }
  Device device() const { return device_; }
  DType dtype() const { return dtype_; }
  // The activations' dtype: dtype() on a GPU, f32 on the CPU.
  DType activation_dtype() const { return pthrun::activation_dtype(device_, dtype_); }
  // What its sessions' KV caches hold (note [KV cache dtype]).
  DType kv_dtype() const { return kv_dtype_; }
  const Gpt2Weights& weights() const { return weights_; }
  const LoadStats& load_stats() const { return load_stats_; }
  const kernels::MatmulOptions& matmul_options() const { return matmul_; }
  // Bytes of weights that are views of the mapped checkpoint (ModelOptions::mmap).
  uint64_t mapped_bytes() const { return mapped_bytes_; }
  // Throws pthrun::Error naming the checkpoint when a file the weights are mapped from was
  // truncated under them (sessions call it after every step whose results they return).
  void check_mapped_weights() const;

  // Throws pthrun::Error naming the first id outside the vocabulary.
  void check_tokens(std::span<const int32_t> tokens) const;
  // Every position's logits for one sequence computed from scratch, (T, V) f32 on the CPU, in
  // a session of its own.
  Tensor forward(std::span<const int32_t> tokens) const;

 private:
  explicit Gpt2Model(const ModelOptions& options);

  Gpt2Config config_;
  Naming naming_ = Naming::book;
  DType checkpoint_dtype_ = DType::f32;
  Device device_;
  DType dtype_ = DType::f32;
  DType kv_dtype_ = DType::f32;
  kernels::MatmulOptions matmul_;
  Gpt2Weights weights_;
  LoadStats load_stats_;
  std::optional<Checkpoint> mapped_checkpoint_;  // holds the mappings' files while weights point into them
  uint64_t mapped_bytes_ = 0;
};

}  // namespace pthrun
