#include "model/session.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <limits>

#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "runtime/alloc_trace.h"
#include "runtime/error.h"
#include "runtime/quote.h"

namespace pthrun {

namespace {

using kernels::Epilogue;

std::string default_name() {
  static std::atomic<int64_t> sessions{0};
  return str("session ", sessions.fetch_add(1));
}

}  // namespace

int64_t rows_through_last_active(const std::vector<bool>& active) {
  for (auto b = static_cast<int64_t>(active.size()); b > 0; --b)
    if (active[static_cast<std::size_t>(b - 1)]) return b;
  return 0;
}

Session::Session(std::shared_ptr<const Gpt2Model> model, const SessionOptions& options)
    : model_(std::move(model)),
      name_(options.name.empty() ? default_name() : options.name),
      batch_(options.slots),
      max_tokens_(options.max_tokens == 0 ? model_->config().context : options.max_tokens),
      cuda_graphs_(options.cuda_graphs) {
  const Gpt2Config& c = model_->config();
  PTHRUN_CHECK(options.sample_vocab >= 0, "sample_vocab ", options.sample_vocab, ": expected at least 0");
  sample_vocab_ = options.sample_vocab == 0 ? c.vocab_size : std::min(options.sample_vocab, c.vocab_size);
  PTHRUN_CHECK(batch_ >= 1, "a session of ", batch_, " slots: expected at least 1");
  PTHRUN_CHECK(max_tokens_ >= 1 && max_tokens_ <= c.context, "a session of ", max_tokens_,
               " tokens per slot: expected 1 to the model's context of ", c.context);
  if (device().is_cuda()) set_current_device(device());
  stream_ = Stream::create(device());
  lengths_.assign(static_cast<std::size_t>(batch_), 0);
  samplers_.assign(static_cast<std::size_t>(batch_), SlotSampling{});
  sample_steps_.assign(static_cast<std::size_t>(batch_), 0);
  allocate_buffers(options.commit_memory);
}

Session::~Session() {
  if (!model_) return;  // moved from
  try {
    stream_.synchronize();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "warning: %s\n", e.what());
  }
}

void Session::allocate_buffers(bool commit) {
  const Gpt2Config& c = model_->config();
  const DType dtype = model_->activation_dtype();
  const Device device = this->device();
  Buffers& b = buffers_;
  b.rows = std::max(batch_, max_tokens_);
  const int64_t R = b.rows, C = c.channels, V = c.vocab_size;
  // Every buffer, written once when committing (SessionOptions::commit_memory).
  auto buffer = [&](const Shape& shape, DType buffer_dtype) {
    Tensor t = Tensor::empty(shape, buffer_dtype, device, stream_.id());
    if (commit) t.fill_(0, &stream_);
    return t;
  };
  {
    AllocScope scope("activations");
    AllocScope mine(name_);
    b.x = buffer({R, C}, dtype);
    b.ln = buffer({R, C}, dtype);
    b.qkv = buffer({R, 3 * C}, dtype);
    b.att = buffer({R, C}, dtype);
    b.proj = buffer({R, C}, dtype);
    b.fc = buffer({R, 4 * C}, dtype);
    b.logits = buffer({batch_, V}, DType::f32);
    b.tokens = buffer({R}, DType::i32);
    b.positions = buffer({R}, DType::i32);
    b.sequences = buffer({R}, DType::i32);
    b.sampled = buffer({batch_}, DType::i32);
  }
  {
    AllocScope scope("kv_cache");
    AllocScope mine(name_);
    const DType kv = model_->kv_dtype();
    b.k_cache = buffer({c.layers, batch_, c.heads, max_tokens_, c.head_size()}, kv);
    b.v_cache = buffer({c.layers, batch_, c.heads, max_tokens_, c.head_size()}, kv);
  }
  {
    AllocScope scope("workspace");
    AllocScope mine(name_);
    b.attention_workspace = buffer(
        {std::max<int64_t>(1, kernels::attention_decode_workspace_elems(batch_, static_cast<int>(c.heads), max_tokens_,
                                                                         c.head_size()))},
        DType::f32);
    b.sampling_workspace = buffer({std::max<int64_t>(1, kernels::sampling_workspace_elems(batch_, V))}, DType::f32);
  }
  const std::size_t row_bytes = static_cast<std::size_t>(R) * sizeof(int32_t);
  b.host_tokens = PinnedBuffer(row_bytes, device);
  b.host_positions = PinnedBuffer(row_bytes, device);
  b.host_sequences = PinnedBuffer(row_bytes, device);
  b.host_sampled = PinnedBuffer(static_cast<std::size_t>(batch_) * sizeof(int32_t), device);
  if (commit) stream_.synchronize();
}

void Session::check_slot(int64_t slot) const {
  PTHRUN_CHECK(slot >= 0 && slot < batch_, "slot ", slot, " is outside the session's ", batch_, " slots");
}

int64_t Session::length(int64_t slot) const {
  check_slot(slot);
  return lengths_[static_cast<std::size_t>(slot)];
}

void Session::reset(int64_t slot) {
  check_slot(slot);
  lengths_[static_cast<std::size_t>(slot)] = 0;
  sample_steps_[static_cast<std::size_t>(slot)] = 0;
}

void Session::copy_slot(int64_t from, int64_t to) {
  const int64_t length = this->length(from);
  check_slot(to);
  if (from == to) return;
  Buffers& b = buffers_;
  if (length > 0) {
    // (L, B, NH, T, HS): every layer's and head's first `length` positions.
    auto held = [length](const Tensor& cache, int64_t slot) { return cache.select(1, slot).slice(2, 0, length); };
    held(b.k_cache, to).copy_from(held(b.k_cache, from), &stream_);
    held(b.v_cache, to).copy_from(held(b.v_cache, from), &stream_);
  }
  b.logits.select(0, to).copy_from(b.logits.select(0, from), &stream_);
  lengths_[static_cast<std::size_t>(to)] = length;
  sample_steps_[static_cast<std::size_t>(to)] = 0;
}

void Session::move_slot(int64_t from, int64_t to) {
  copy_slot(from, to);
  if (from == to) return;
  samplers_[static_cast<std::size_t>(to)] = samplers_[static_cast<std::size_t>(from)];
  sample_steps_[static_cast<std::size_t>(to)] = sample_steps_[static_cast<std::size_t>(from)];
  reset(from);
}

void Session::reset_all() {
  for (int64_t slot = 0; slot < batch_; ++slot) reset(slot);
}

void Session::run_blocks(int64_t rows, bool decode, int64_t slot, int64_t pos0, bool last_row_only) {
  const Gpt2Config& c = model_->config();
  const Gpt2Weights& w = model_->weights();
  // A decode row is one slot's request: its result must not depend on the other slots.
  kernels::MatmulOptions matmul = model_->matmul_options();
  matmul.row_invariant = decode;
  Buffers& b = buffers_;
  const Stream& s = stream_;
  const float eps = c.layernorm_eps;
  const Epilogue gelu = c.activation == Activation::gelu_erf ? Epilogue::gelu_erf : Epilogue::gelu;
  const int heads = static_cast<int>(c.heads);
  auto first = [rows](const Tensor& t) { return t.slice(0, 0, rows); };
  const Tensor x = first(b.x), ln = first(b.ln), qkv = first(b.qkv), att = first(b.att), proj = first(b.proj),
               fc = first(b.fc), positions = first(b.positions), sequences = first(b.sequences);

  kernels::embedding(x, first(b.tokens), positions, w.wte, w.wpe, s);
  kernels::layernorm(ln, x, w.layers[0].ln1_w, w.layers[0].ln1_b, eps, s);
  for (int64_t l = 0; l < c.layers; ++l) {
    const Gpt2LayerWeights& lw = w.layers[static_cast<std::size_t>(l)];
    const Tensor k_cache = b.k_cache.select(0, l), v_cache = b.v_cache.select(0, l);  // (B, NH, T, HS)

    kernels::linear(qkv, ln, w.matrix(lw.qkv_w, lw.qkv_s), lw.qkv_b, Epilogue::none, matmul, s);
    kernels::kv_cache_append(k_cache, v_cache, qkv, sequences, positions, heads, s);
    // Rows [r0, rows) go on past the cache: all of them but in the last layer of a prefill
    // whose earlier rows' outputs nobody reads (1/16 of a 12-layer prompt's work saved).
    const bool last = l + 1 == c.layers;
    const int64_t r0 = last && last_row_only ? rows - 1 : 0;
    auto kept = [r0, rows](const Tensor& t) { return t.slice(0, r0, rows); };
    if (decode)
      kernels::attention_decode(att, qkv, k_cache.slice(0, 0, rows), v_cache.slice(0, 0, rows), positions, heads,
                                b.attention_workspace, s);
    else
      kernels::attention_prefill(kept(att), kept(qkv), k_cache.select(0, slot), v_cache.select(0, slot), pos0 + r0,
                                 heads, s);
    kernels::linear(kept(proj), kept(att), w.matrix(lw.proj_w, lw.proj_s), lw.proj_b, Epilogue::none, matmul, s);
    kernels::residual_layernorm(kept(x), kept(ln), kept(proj), lw.ln2_w, lw.ln2_b, eps, s);

    kernels::linear(kept(fc), kept(ln), w.matrix(lw.fc_w, lw.fc_s), lw.fc_b, gelu, matmul, s);
    kernels::linear(kept(proj), kept(fc), w.matrix(lw.fc_proj_w, lw.fc_proj_s), lw.fc_proj_b, Epilogue::none, matmul,
                    s);
    const Gpt2LayerWeights& next = w.layers[static_cast<std::size_t>(last ? l : l + 1)];
    kernels::residual_layernorm(kept(x), kept(ln), kept(proj), last ? w.lnf_w : next.ln1_w,
                                last ? w.lnf_b : next.ln1_b, eps, s);
  }
}

Tensor Session::prefill(int64_t slot, std::span<const int32_t> tokens, bool all_logits) {
  const int64_t pos0 = length(slot);
  const auto n = static_cast<int64_t>(tokens.size());
  PTHRUN_CHECK(n >= 1, "prefill of an empty prompt");
  PTHRUN_CHECK(pos0 + n <= max_tokens_, "slot ", slot, " would hold ", pos0 + n, " tokens, more than its ",
               max_tokens_, " (the model's context is ", model_->config().context, ")");
  model_->check_tokens(tokens);

  // The host buffers are reused: wait until the previous step has consumed them.
  Buffers& b = buffers_;
  stream_.synchronize();
  for (int64_t i = 0; i < n; ++i) {
    b.host_tokens.as<int32_t>()[i] = tokens[static_cast<std::size_t>(i)];
    b.host_positions.as<int32_t>()[i] = static_cast<int32_t>(pos0 + i);
    b.host_sequences.as<int32_t>()[i] = static_cast<int32_t>(slot);
  }
  const auto bytes = static_cast<std::size_t>(n) * sizeof(int32_t);
  memcpy_async(b.tokens.data_ptr(), b.host_tokens.data(), bytes, stream_);
  memcpy_async(b.positions.data_ptr(), b.host_positions.data(), bytes, stream_);
  memcpy_async(b.sequences.data_ptr(), b.host_sequences.data(), bytes, stream_);
  run_blocks(n, /*decode=*/false, slot, pos0, /*last_row_only=*/!all_logits);
  lengths_[static_cast<std::size_t>(slot)] += n;

  const Gpt2Weights& w = model_->weights();
  const kernels::MatmulOptions& matmul = model_->matmul_options();
  kernels::linear(b.logits.slice(0, slot, slot + 1), b.ln.slice(0, n - 1, n), w.head_weight(), Tensor(),
                  Epilogue::none, matmul, stream_);
  Tensor out;
  if (all_logits) {
    out = Tensor::empty({n, model_->config().vocab_size}, DType::f32, device(), stream_.id());
    kernels::linear(out, b.ln.slice(0, 0, n), w.head_weight(), Tensor(), Epilogue::none, matmul, stream_);
  }
  model_->check_mapped_weights();
  return out;
}

void Session::enqueue_decode(int64_t rows) {
  Buffers& b = buffers_;
  const auto bytes = static_cast<std::size_t>(rows) * sizeof(int32_t);
  memcpy_async(b.tokens.data_ptr(), b.host_tokens.data(), bytes, stream_);
  memcpy_async(b.positions.data_ptr(), b.host_positions.data(), bytes, stream_);
  memcpy_async(b.sequences.data_ptr(), b.host_sequences.data(), bytes, stream_);
  run_blocks(rows, /*decode=*/true, 0, 0);
  kernels::MatmulOptions matmul = model_->matmul_options();
  matmul.row_invariant = true;
  kernels::linear(b.logits.slice(0, 0, rows), b.ln.slice(0, 0, rows), model_->weights().head_weight(), Tensor(), Epilogue::none, matmul, stream_);
}

void Session::decode(std::span<const int32_t> tokens, const std::vector<bool>& active) {
  PTHRUN_CHECK(static_cast<int64_t>(tokens.size()) == batch_ && active.size() == tokens.size(), "decode of ",
               tokens.size(), " tokens (", active.size(), " flags) for a session of ", batch_, " slots");
  Buffers& b = buffers_;
  stream_.synchronize();
  for (int64_t i = 0; i < batch_; ++i) {
    const auto slot = static_cast<std::size_t>(i);
    const int64_t length = lengths_[slot];
    if (active[slot]) {
      PTHRUN_CHECK(length > 0, "decode of slot ", i, " before its prefill");
      PTHRUN_CHECK(length < max_tokens_, "slot ", i, " is full: ", length, " tokens of ", max_tokens_);
      PTHRUN_CHECK(tokens[slot] >= 0 && tokens[slot] < model_->config().vocab_size, "token ", tokens[slot],
                   " for slot ", i, " is outside the vocabulary of ", model_->config().vocab_size, " ids");
    }
    // An inactive row still flows through the batch, but writes no cache entry (kSkipRow) and
    // attends over what its slot holds; its output is not used.
    b.host_tokens.as<int32_t>()[i] = active[slot] ? tokens[slot] : 0;
    b.host_positions.as<int32_t>()[i] = static_cast<int32_t>(active[slot] ? length : std::max<int64_t>(length - 1, 0));
    b.host_sequences.as<int32_t>()[i] = active[slot] ? static_cast<int32_t>(i) : kernels::kSkipRow;
  }

  // Rows past the last active slot are left out: a server with many idle slots pays for the
  // busy ones only (row b is slot b, so the rows before it all run).
  const int64_t rows = std::max<int64_t>(rows_through_last_active(active), 1);

  // The graph is captured at the second call: the first runs eagerly so that every lazily
  // created handle (cuBLAS, its workspace) exists before capture.
  const bool graph = cuda_graphs_ && graph_failure_.empty() && device().is_cuda() && batch_ == 1;
  if (graph && b.decode_graph.ready()) {
    b.decode_graph.replay(stream_);
    ++graph_replays_;
  } else if (graph && decode_calls_ >= 1) {
    graph_failure_ = b.decode_graph.capture(stream_, [this] { enqueue_decode(1); });
    if (graph_failure_.empty()) {
      ++graph_captures_;
      b.decode_graph.replay(stream_);
      ++graph_replays_;
    } else {
      std::fprintf(stderr, "warning: %s: the decode step could not be captured in a CUDA graph (%s); decoding "
                   "without one\n", printable(name_).c_str(), printable(graph_failure_).c_str());
      enqueue_decode(1);
    }
  } else {
    enqueue_decode(rows);
  }
  ++decode_calls_;
  for (int64_t i = 0; i < batch_; ++i)
    if (active[static_cast<std::size_t>(i)]) ++lengths_[static_cast<std::size_t>(i)];
  model_->check_mapped_weights();
}

void Session::set_sampling(int64_t slot, const SlotSampling& sampling) {
  check_slot(slot);
  samplers_[static_cast<std::size_t>(slot)] = sampling;
}

std::vector<int32_t> Session::sample() { return sample(std::vector<bool>(static_cast<std::size_t>(batch_), true)); }

std::vector<int32_t> Session::sample(const std::vector<bool>& active) {
  PTHRUN_CHECK(static_cast<int64_t>(active.size()) == batch_, "sample with ", active.size(), " flags for a session of ",
               batch_, " slots");
  const int64_t rows = rows_through_last_active(active);
  std::vector<int32_t> out(static_cast<std::size_t>(batch_), -1);
  if (rows == 0) return out;

  // An idle row below the last active one is drawn greedily (the cheapest draw) and dropped:
  // drawn by the sampler its last request left, a top-p sort of the whole vocabulary, it cost
  // a lone request beside 15 idle slots 40% of its time.
  std::vector<kernels::RowSampling> params(static_cast<std::size_t>(rows));
  for (std::size_t i = 0; i < params.size(); ++i)
    if (active[i]) params[i] = {samplers_[i].params, samplers_[i].seed, sample_steps_[i]++, samplers_[i].stream};
  Buffers& b = buffers_;
  const Tensor logits = b.logits.slice(0, 0, rows), sampled = b.sampled.slice(0, 0, rows);
  // Padding ids beyond the tokenizer's: never drawn (their logits are trained towards -inf, not to it).
  const int64_t V = model_->config().vocab_size;
  if (sample_vocab_ < V) logits.slice(1, sample_vocab_, V).fill_(-std::numeric_limits<double>::infinity(), &stream_);
  kernels::sample(sampled, logits, params, b.sampling_workspace, stream_);
  memcpy_async(b.host_sampled.data(), sampled.data_ptr(), static_cast<std::size_t>(rows) * sizeof(int32_t), stream_);
  stream_.synchronize();
  const int32_t* drawn = b.host_sampled.as<int32_t>();
  for (std::size_t i = 0; i < params.size(); ++i)
    if (active[i]) out[i] = drawn[i];
  return out;
}

Tensor Session::forward(std::span<const int32_t> tokens) {
  reset(0);
  Tensor logits = prefill(0, tokens, /*all_logits=*/true);
  stream_.synchronize();  // the copy below runs on another stream
  return logits.to(cpu_device);
}

}  // namespace pthrun
