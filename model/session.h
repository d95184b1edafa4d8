// A session runs a shared, immutable model (model/gpt2.h): it owns everything that changes
// while generating — its stream, a KV cache of B slots of up to T tokens each, the activation
// and sampler buffers, the decode graph and each slot's sampler.
//
//   auto model = Gpt2Model::load("model.pth");
//   Session session(model, {.slots = 2, .max_tokens = 256});  // every buffer, once
//   session.prefill(0, prompt_a);                             // logits of its last token -> row 0
//   session.prefill(1, prompt_b);
//   session.set_sampling(1, {.params = {.temperature = 0.8f}, .seed = 7});
//   std::vector<int32_t> next = session.sample();             // one token per slot
//   session.decode(next, {true, true});                       // both slots grow by one token
//   session.reset(0);                                         // slot 0 is free again; 1 keeps going
//
// Slots are independent sequences: one can be reset and refilled while the others decode, and
// a slot's tokens do not depend on what the other slots hold (continuous batching). After
// construction, prefill, decode and sample allocate nothing. Several sessions may run one
// model concurrently, one thread per session; a session itself is not thread-safe.
//
// On a GPU the batch-1 decode step is captured into a CUDA graph at its second call and
// replayed after that; when capture fails the session says why once (graph_failure()) and
// decodes eagerly from then on.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kernels/sampling.h"
#include "model/gpt2.h"
#include "runtime/cuda_graph.h"
#include "runtime/pinned_buffer.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace pthrun {

struct SessionOptions {
  int64_t slots = 1;        // B: independent sequences
  int64_t max_tokens = 0;   // T: tokens per slot, at most the model's context (0: the context)
  bool cuda_graphs = true;  // capture the batch-1 decode step on a GPU
  std::string name = {};    // allocation label under each scope (default "session N")
  // Ids from this one up are never sampled: the model's vocabulary is padded beyond its
  // tokenizer's (nanoGPT's 50304 for GPT-2's 50257). 0: every id may be.
  int64_t sample_vocab = 0;
  // Write every buffer once while constructing: a CPU's OS maps a buffer's pages at their
  // first write, so without this a server's first requests pay for mapping the KV cache (a
  // 16-slot gpt2-small server's first 16 prefills took 176-330 ms each against 71-80).
  bool commit_memory = false;
};

// How a slot draws its tokens: the parameters and its random stream (see kernels/sampling.h).
// The slot counts its own steps from its last reset, so a request gets the same tokens whether
// it runs alone or beside others.
struct SlotSampling {
  kernels::SamplingParams params;  // temperature 0: greedy
  uint64_t seed = 0;
  uint64_t stream = 0;
};

class Session {
 public:
  Session(std::shared_ptr<const Gpt2Model> model, const SessionOptions& options = {});
  Session(Session&&) = default;
  Session& operator=(Session&&) = default;
  // Waits for the session's stream: its buffers go back to the allocator only once unused.
  ~Session();

  const Gpt2Model& model() const { return *model_; }
  const std::string& name() const { return name_; }
  Device device() const { return model_->device(); }
  const Stream& stream() const { return stream_; }
  int64_t slots() const { return batch_; }
  int64_t max_tokens() const { return max_tokens_; }
  // Tokens held by `slot`.
  int64_t length(int64_t slot) const;

  // Empties one slot (its cache is overwritten as it refills), its sampler's steps included.
  void reset(int64_t slot);
  void reset_all();
  // Makes slot `to` a copy of slot `from`: its cached tokens and its logits row, with its
  // sampler's steps restarted (its sampler itself is kept). Several continuations of one
  // prompt share its prefill this way (a completion request's n choices).
  void copy_slot(int64_t from, int64_t to);
  // Moves slot `from` into slot `to`: its cached tokens, logits row, sampler and steps; `from`
  // is left empty. On the CPU its later tokens are those it would have got in place, a decode
  // row's results not depending on its row.
  void move_slot(int64_t from, int64_t to);

  // Appends `tokens` to `slot`; the logits of its last token go to row `slot` of logits().
  // With all_logits, returns every position's logits, (T, V) f32 on the device (this allocates).
  Tensor prefill(int64_t slot, std::span<const int32_t> tokens, bool all_logits = false);
  // Appends tokens[b] to every slot b with active[b]. Inactive slots are left untouched (their
  // logits rows hold garbage afterwards). Logits go to logits() rows 0..B-1. Only rows up to
  // the last active slot are computed.
  void decode(std::span<const int32_t> tokens, const std::vector<bool>& active);
  // (B, V) f32 on the session's device.
  Tensor logits() const { return buffers_.logits; }

  // A slot's sampler; reset() keeps it and restarts its steps. Greedy until set.
  void set_sampling(int64_t slot, const SlotSampling& sampling);
  // Draws one token for every slot b with active[b] from logits() and returns them on the host,
  // -1 for the other slots; the drawing slots' steps advance by one. Rows past the last active
  // slot are not read.
  std::vector<int32_t> sample(const std::vector<bool>& active);
  // sample() of every slot.
  std::vector<int32_t> sample();

  // Every position's logits for one sequence from scratch in slot 0, (T, V) f32 on the CPU.
  Tensor forward(std::span<const int32_t> tokens);

  // The decode graph: whether one is captured, how often it was captured and replayed, and
  // why capture failed ("" when it did not).
  bool graph_ready() const { return buffers_.decode_graph.ready(); }
  int64_t graph_captures() const { return graph_captures_; }
  int64_t graph_replays() const { return graph_replays_; }
  const std::string& graph_failure() const { return graph_failure_; }

 private:
  void check_slot(int64_t slot) const;
  void allocate_buffers(bool commit);
  // The transformer over the first `rows` rows of the token/position buffers; leaves the final
  // LayerNorm's output in `ln`. Prefill: one slot from pos0; decode: one row per slot. With
  // last_row_only, the last layer computes every row's keys and values but the rest of the
  // layer for the last row alone, the only one whose logits are wanted.
  void run_blocks(int64_t rows, bool decode, int64_t slot, int64_t pos0, bool last_row_only = false);
  void enqueue_decode(int64_t rows);  // the first `rows` slots

  struct Buffers {
    int64_t rows = 0;                              // R = max(B, T)
    Tensor x, ln, qkv, att, proj, fc;              // (R, C) (R, C) (R, 3C) (R, C) (R, C) (R, 4C)
    Tensor logits;                                 // (B, V) f32
    Tensor tokens, positions, sequences;           // (R) int32
    Tensor k_cache, v_cache;                       // (L, B, NH, T, HS)
    Tensor attention_workspace, sampling_workspace;  // f32
    Tensor sampled;                                // (B) int32
    PinnedBuffer host_tokens, host_positions, host_sequences, host_sampled;
    CudaGraph decode_graph;
  };

  std::shared_ptr<const Gpt2Model> model_;
  std::string name_;
  int64_t batch_ = 0, max_tokens_ = 0;
  int64_t sample_vocab_ = 0;  // SessionOptions::sample_vocab, resolved: at most V
  bool cuda_graphs_ = true;
  Stream stream_;
  Buffers buffers_;
  std::vector<int64_t> lengths_;               // tokens held per slot
  std::vector<SlotSampling> samplers_;         // per slot
  std::vector<uint64_t> sample_steps_;         // tokens drawn per slot since its reset
  int64_t decode_calls_ = 0;
  int64_t graph_captures_ = 0, graph_replays_ = 0;
  std::string graph_failure_;
};

// Rows a step over these slot flags computes: row b is slot b, so the rows up to the last
// active slot (0 when none is).
int64_t rows_through_last_active(const std::vector<bool>& active);

}  // namespace pthrun
