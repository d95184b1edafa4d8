// GPT-2 inference: load a checkpoint into preallocated buffers, then run it with a KV cache.
//
//   Gpt2 model = Gpt2::load("model.pth", {.device = cuda_device(0), .dtype = DType::bf16});
//   model.start(/*batch=*/1, /*max_tokens=*/64);          // KV cache and every buffer, once
//   model.prefill(0, prompt);                               // logits of its last token -> row 0
//   std::vector<int32_t> next = model.sample(params, seed, /*step=*/0);
//   model.decode(next, {true});                             // one token per sequence
//
// After start(), prefill and decode allocate nothing; on a GPU the batch-1 decode step is
// captured into a CUDA graph at its second call and replayed after that. generate.h drives this
// loop for whole prompts.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kernels/sampling.h"
#include "loader/stream_loader.h"
#include "model/config.h"
#include "model/state_dict_layout.h"
#include "model/weights.h"
#include "runtime/cuda_graph.h"
#include "runtime/device.h"
#include "runtime/pinned_buffer.h"
#include "runtime/stream.h"

namespace pthrun {

struct ModelOptions {
  std::optional<Device> device;    // default: cuda:0 when present, else the CPU
  DType dtype = DType::f32;        // f32 everywhere; bf16 or f16 on a GPU
  std::optional<int64_t> heads;    // see resolve_head_count()
  std::string key;                 // the state dict's entry in a checkpoint dict
  LoadOptions load;
  bool cuda_graphs = true;         // capture the batch-1 decode step
  bool tf32 = false;               // f32 products on the GPU may use TF32 tensor cores
};

class Gpt2 {
 public:
  // Validates the checkpoint against GPT-2 before allocating anything, then allocates every
  // weight once and streams the checkpoint into them.
  static Gpt2 load(const std::string& path, const ModelOptions& options = {});
  // A model with random GPT-2-like weights (random_init.h) and no checkpoint, for benchmarks.
  // The config's heads must be set.
  static Gpt2 create_random(const Gpt2Config& config, const ModelOptions& options, uint64_t seed);
  Gpt2(Gpt2&&) = default;
  Gpt2& operator=(Gpt2&&) = default;
  // Waits for the model's stream: its buffers go back to the allocator only once unused.
  ~Gpt2();

  const Gpt2Config& config() const { return config_; }
  Naming naming() const { return naming_; }
  // The dtype the checkpoint stores its weights in (its token embedding's).
  DType checkpoint_dtype() const { return checkpoint_dtype_; }
  Device device() const { return device_; }
  DType dtype() const { return dtype_; }
  const Gpt2Weights& weights() const { return weights_; }
  const Stream& stream() const { return stream_; }
  const LoadStats& load_stats() const { return load_stats_; }

  // Allocates the KV cache and every buffer for `batch` sequences of up to `max_tokens` tokens
  // (at most the context), all empty. Called again with the same shape, it only empties the
  // sequences and keeps the buffers (and a captured decode graph).
  void start(int64_t batch, int64_t max_tokens);
  int64_t batch() const { return buffers_.batch; }
  int64_t max_tokens() const { return buffers_.max_tokens; }
  int64_t length(int64_t sequence) const;

  // Appends `tokens` to `sequence`; the logits of its last token go to row `sequence` of
  // logits(). With all_logits, returns every position's logits, (T, V) f32 (this allocates).
  Tensor prefill(int64_t sequence, std::span<const int32_t> tokens, bool all_logits = false);
  // Appends tokens[b] to every sequence b with active[b]; the others are recomputed in place and
  // do not grow. Logits go to logits() rows 0..B-1.
  void decode(std::span<const int32_t> tokens, const std::vector<bool>& active);
  // (B, V) f32 on the model's device.
  Tensor logits() const { return buffers_.logits; }
  // Draws one token per row of logits() (see kernels/sampling.h) and returns them on the host.
  std::vector<int32_t> sample(const kernels::SamplingParams& params, uint64_t seed, uint64_t step);

  // Every position's logits for one sequence computed from scratch, (T, V) f32 on the CPU.
  Tensor forward(std::span<const int32_t> tokens);

 private:
  // Device, dtype and stream from the options, checked.
  explicit Gpt2(const ModelOptions& options);
  void check_tokens(std::span<const int32_t> tokens) const;
  // The transformer over the first `rows` rows of the token/position buffers; leaves the final
  // LayerNorm's output in `ln`. Prefill: one sequence from pos0; decode: one row per sequence.
  void run_blocks(int64_t rows, bool decode, int64_t sequence, int64_t pos0);
  void enqueue_decode();
  struct Buffers;
  void allocate_buffers(Buffers& buffers, int64_t batch, int64_t max_tokens);

  struct Buffers {
    int64_t rows = 0, batch = 0, max_tokens = 0;
    Tensor x, ln, qkv, att, proj, fc;              // (R, C) (R, C) (R, 3C) (R, C) (R, C) (R, 4C)
    Tensor logits;                                 // (B, V) f32
    Tensor tokens, positions, row_sequences;       // (R) int32
    Tensor decode_sequences;                       // (B) int32: 0 .. B-1
    Tensor k_cache, v_cache;                       // (L, B, NH, T_max, HS)
    Tensor attention_workspace, sampling_workspace;  // f32
    Tensor sampled;                                // (B) int32
    PinnedBuffer host_tokens, host_positions, host_sequences, host_sampled;
    std::vector<int64_t> lengths;                  // tokens held per sequence
    CudaGraph decode_graph;
    int64_t decode_calls = 0;
  };

  Gpt2Config config_;
  Naming naming_ = Naming::book;
  DType checkpoint_dtype_ = DType::f32;
  Device device_;
  DType dtype_ = DType::f32;
  bool cuda_graphs_ = true;
  kernels::MatmulOptions matmul_;
  Stream stream_;
  Gpt2Weights weights_;
  LoadStats load_stats_;
  Buffers buffers_;
};

}  // namespace pthrun
