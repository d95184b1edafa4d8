#include "model/gpt2.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "model/random_init.h"
#include "runtime/alloc_trace.h"
#include "runtime/error.h"

namespace pthrun {

using kernels::Epilogue;
using kernels::WeightLayout;

Gpt2::Gpt2(const ModelOptions& options)
    : device_(options.device.value_or(default_device())),
      dtype_(options.dtype),
      cuda_graphs_(options.cuda_graphs),
      matmul_{.allow_tf32 = options.tf32} {
  PTHRUN_CHECK(is_floating(dtype_) && dtype_ != DType::f64, "--dtype ", dtype_short_name(dtype_),
               ": expected f32, bf16 or f16");
  PTHRUN_CHECK(device_.is_cuda() || dtype_ == DType::f32, "--dtype ", dtype_short_name(dtype_),
               " needs a CUDA device; the CPU runs f32");
  if (device_.is_cuda()) set_current_device(device_);
}

Gpt2 Gpt2::load(const std::string& path, const ModelOptions& options) {
  Gpt2 model(options);

  // Everything about the checkpoint is checked before the first byte of device memory is
  // taken, so that a bad file costs nothing and leaves nothing half-built.
  Checkpoint checkpoint = Checkpoint::open(path);
  StateDictLayout layout = read_layout(checkpoint.state_dict(options.key), path);
  const HeadCount heads = resolve_head_count(path, layout.config.channels, options.heads);
  layout.config.heads = heads.heads;
  const LoadPlan plan = plan_load(layout);
  model.config_ = layout.config;
  model.naming_ = layout.naming;
  model.checkpoint_dtype_ = layout.dtype;

  model.stream_ = Stream::create(model.device_);
  model.weights_ = allocate_weights(model.config_, layout.matrix_layout, model.device_, model.dtype_, model.stream_);
  model.load_stats_ = load_tensors(checkpoint, plan.requests(model.weights_), options.load);
  return model;
}

Gpt2 Gpt2::create_random(const Gpt2Config& config, const ModelOptions& options, uint64_t seed) {
  PTHRUN_CHECK(config.heads > 0 && config.channels % config.heads == 0, "width ", config.channels,
               " does not split into ", config.heads, " heads");
  Gpt2 model(options);
  model.config_ = config;
  model.stream_ = Stream::create(model.device_);
  model.weights_ = allocate_weights(config, WeightLayout::out_in, model.device_, model.dtype_, model.stream_);
  initialize_weights(model.weights_, config, seed);
  return model;
}

Gpt2::~Gpt2() {
  try {
    stream_.synchronize();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "warning: %s\n", e.what());
  }
}

void Gpt2::start(int64_t batch, int64_t max_tokens) {
  const Gpt2Config& c = config_;
  PTHRUN_CHECK(batch >= 1, "batch size ", batch, ": expected at least 1");
  PTHRUN_CHECK(max_tokens >= 1 && max_tokens <= c.context, "max_tokens ", max_tokens,
               " is outside the model's context of ", c.context);
  stream_.synchronize();
  Buffers& b = buffers_;
  if (b.batch == batch && b.max_tokens == max_tokens) {
    // Same shape: keep every buffer, and the captured decode graph that points into them.
    b.lengths.assign(static_cast<std::size_t>(batch), 0);
    return;
  }
  // The old buffers go first, to make room; the new ones are built aside and kept only when all
  // of them could be had, so that running out of memory here leaves no half-started model.
  buffers_ = Buffers{};
  Buffers fresh;
  allocate_buffers(fresh, batch, max_tokens);
  buffers_ = std::move(fresh);
}

void Gpt2::allocate_buffers(Buffers& b, int64_t batch, int64_t max_tokens) {
  const Gpt2Config& c = config_;
  b.batch = batch;
  b.max_tokens = max_tokens;
  b.rows = std::max(batch, max_tokens);
  b.lengths.assign(static_cast<std::size_t>(batch), 0);

  const int64_t R = b.rows, C = c.channels, V = c.vocab_size;
  const StreamId s = stream_.id();
  {
    AllocScope scope("activations");
    b.x = Tensor::empty({R, C}, dtype_, device_, s);
    b.ln = Tensor::empty({R, C}, dtype_, device_, s);
    b.qkv = Tensor::empty({R, 3 * C}, dtype_, device_, s);
    b.att = Tensor::empty({R, C}, dtype_, device_, s);
    b.proj = Tensor::empty({R, C}, dtype_, device_, s);
    b.fc = Tensor::empty({R, 4 * C}, dtype_, device_, s);
    b.logits = Tensor::empty({batch, V}, DType::f32, device_, s);
    b.tokens = Tensor::empty({R}, DType::i32, device_, s);
    b.positions = Tensor::empty({R}, DType::i32, device_, s);
    b.row_sequences = Tensor::empty({R}, DType::i32, device_, s);
    b.decode_sequences = Tensor::empty({batch}, DType::i32, device_, s);
    b.sampled = Tensor::empty({batch}, DType::i32, device_, s);
  }
  {
    AllocScope scope("kv_cache");
    b.k_cache = Tensor::empty({c.layers, batch, c.heads, max_tokens, c.head_size()}, dtype_, device_, s);
    b.v_cache = Tensor::empty({c.layers, batch, c.heads, max_tokens, c.head_size()}, dtype_, device_, s);
  }
  {
    AllocScope scope("workspace");
    b.attention_workspace = Tensor::empty(
        {std::max<int64_t>(1, kernels::attention_decode_workspace_elems(batch, static_cast<int>(c.heads), max_tokens,
                                                                         c.head_size()))},
        DType::f32, device_, s);
    b.sampling_workspace = Tensor::empty(
        {std::max<int64_t>(1, kernels::sampling_workspace_elems(batch, V))}, DType::f32, device_, s);
  }
  const std::size_t row_bytes = static_cast<std::size_t>(R) * sizeof(int32_t);
  b.host_tokens = PinnedBuffer(row_bytes, device_);
  b.host_positions = PinnedBuffer(row_bytes, device_);
  b.host_sequences = PinnedBuffer(row_bytes, device_);
  b.host_sampled = PinnedBuffer(static_cast<std::size_t>(batch) * sizeof(int32_t), device_);
  for (int64_t i = 0; i < batch; ++i) b.host_sequences.as<int32_t>()[i] = static_cast<int32_t>(i);
  memcpy_async(b.decode_sequences.data_ptr(), b.host_sequences.data(), static_cast<std::size_t>(batch) * sizeof(int32_t), stream_);
  stream_.synchronize();
}

int64_t Gpt2::length(int64_t sequence) const {
  PTHRUN_CHECK(sequence >= 0 && sequence < buffers_.batch, "sequence ", sequence, " is outside the batch of ",
               buffers_.batch);
  return buffers_.lengths[static_cast<std::size_t>(sequence)];
}

void Gpt2::check_tokens(std::span<const int32_t> tokens) const {
  for (std::size_t i = 0; i < tokens.size(); ++i)
    PTHRUN_CHECK(tokens[i] >= 0 && tokens[i] < config_.vocab_size, "token ", tokens[i], " at position ", i,
                 " is outside the vocabulary of ", config_.vocab_size, " ids");
}

void Gpt2::run_blocks(int64_t rows, bool decode, int64_t sequence, int64_t pos0) {
  const Gpt2Config& c = config_;
  const Gpt2Weights& w = weights_;
  Buffers& b = buffers_;
  const Stream& s = stream_;
  const WeightLayout layout = w.matrix_layout;
  const float eps = c.layernorm_eps;
  const int heads = static_cast<int>(c.heads);
  auto first = [rows](const Tensor& t) { return t.slice(0, 0, rows); };
  const Tensor x = first(b.x), ln = first(b.ln), qkv = first(b.qkv), att = first(b.att), proj = first(b.proj),
               fc = first(b.fc), positions = first(b.positions);
  const Tensor sequences = decode ? b.decode_sequences : first(b.row_sequences);

  kernels::embedding(x, first(b.tokens), positions, w.wte, w.wpe, s);
  kernels::layernorm(ln, x, w.layers[0].ln1_w, w.layers[0].ln1_b, eps, s);
  for (int64_t l = 0; l < c.layers; ++l) {
    const Gpt2LayerWeights& lw = w.layers[static_cast<std::size_t>(l)];
    const Tensor k_cache = b.k_cache.select(0, l), v_cache = b.v_cache.select(0, l);  // (B, NH, T_max, HS)

    kernels::linear(qkv, ln, lw.qkv_w, layout, lw.qkv_b, Epilogue::none, matmul_, s);
    kernels::kv_cache_append(k_cache, v_cache, qkv, sequences, positions, heads, s);
    if (decode)
      kernels::attention_decode(att, qkv, k_cache, v_cache, positions, heads, b.attention_workspace, s);
    else
      kernels::attention_prefill(att, qkv, k_cache.select(0, sequence), v_cache.select(0, sequence), pos0, heads, s);
    kernels::linear(proj, att, lw.proj_w, layout, lw.proj_b, Epilogue::none, matmul_, s);
    kernels::residual_layernorm(x, ln, proj, lw.ln2_w, lw.ln2_b, eps, s);

    kernels::linear(fc, ln, lw.fc_w, layout, lw.fc_b, Epilogue::gelu, matmul_, s);
    kernels::linear(proj, fc, lw.fc_proj_w, layout, lw.fc_proj_b, Epilogue::none, matmul_, s);
    const bool last = l + 1 == c.layers;
    const Gpt2LayerWeights& next = w.layers[static_cast<std::size_t>(last ? l : l + 1)];
    kernels::residual_layernorm(x, ln, proj, last ? w.lnf_w : next.ln1_w, last ? w.lnf_b : next.ln1_b, eps, s);
  }
}

Tensor Gpt2::prefill(int64_t sequence, std::span<const int32_t> tokens, bool all_logits) {
  Buffers& b = buffers_;
  PTHRUN_CHECK(b.batch > 0, "prefill before start()");
  const int64_t pos0 = length(sequence);
  const auto n = static_cast<int64_t>(tokens.size());
  PTHRUN_CHECK(n >= 1, "prefill of an empty prompt");
  PTHRUN_CHECK(pos0 + n <= b.max_tokens, "sequence ", sequence, " would hold ", pos0 + n,
               " tokens, more than the ", b.max_tokens, " it was started with (the model's context is ",
               config_.context, ")");
  check_tokens(tokens);

  // The host buffers are reused: wait until the previous step has consumed them.
  stream_.synchronize();
  for (int64_t i = 0; i < n; ++i) {
    b.host_tokens.as<int32_t>()[i] = tokens[static_cast<std::size_t>(i)];
    b.host_positions.as<int32_t>()[i] = static_cast<int32_t>(pos0 + i);
    b.host_sequences.as<int32_t>()[i] = static_cast<int32_t>(sequence);
  }
  const auto bytes = static_cast<std::size_t>(n) * sizeof(int32_t);
  memcpy_async(b.tokens.data_ptr(), b.host_tokens.data(), bytes, stream_);
  memcpy_async(b.positions.data_ptr(), b.host_positions.data(), bytes, stream_);
  memcpy_async(b.row_sequences.data_ptr(), b.host_sequences.data(), bytes, stream_);
  run_blocks(n, /*decode=*/false, sequence, pos0);
  b.lengths[static_cast<std::size_t>(sequence)] += n;

  const WeightLayout head_layout = WeightLayout::out_in;
  const Tensor last_row = b.ln.slice(0, n - 1, n);
  kernels::linear(b.logits.slice(0, sequence, sequence + 1), last_row, weights_.head, head_layout, Tensor(),
                  Epilogue::none, matmul_, stream_);
  if (!all_logits) return Tensor();
  Tensor out = Tensor::empty({n, config_.vocab_size}, DType::f32, device_, stream_.id());
  kernels::linear(out, b.ln.slice(0, 0, n), weights_.head, head_layout, Tensor(), Epilogue::none, matmul_, stream_);
  return out;
}

void Gpt2::enqueue_decode() {
  Buffers& b = buffers_;
  const auto bytes = static_cast<std::size_t>(b.batch) * sizeof(int32_t);
  memcpy_async(b.tokens.data_ptr(), b.host_tokens.data(), bytes, stream_);
  memcpy_async(b.positions.data_ptr(), b.host_positions.data(), bytes, stream_);
  run_blocks(b.batch, /*decode=*/true, 0, 0);
  kernels::linear(b.logits, b.ln.slice(0, 0, b.batch), weights_.head, WeightLayout::out_in, Tensor(),
                  Epilogue::none, matmul_, stream_);
}

void Gpt2::decode(std::span<const int32_t> tokens, const std::vector<bool>& active) {
  Buffers& b = buffers_;
  PTHRUN_CHECK(b.batch > 0, "decode before start()");
  PTHRUN_CHECK(static_cast<int64_t>(tokens.size()) == b.batch && active.size() == tokens.size(), "decode of ",
               tokens.size(), " tokens for a batch of ", b.batch);
  check_tokens(tokens);
  stream_.synchronize();
  for (int64_t i = 0; i < b.batch; ++i) {
    const int64_t length = b.lengths[static_cast<std::size_t>(i)];
    const bool grows = active[static_cast<std::size_t>(i)];
    PTHRUN_CHECK(!grows || length < b.max_tokens, "sequence ", i, " is full: ", length, " tokens of ",
                 b.max_tokens);
    PTHRUN_CHECK(length > 0, "decode of sequence ", i, " before its prefill");
    b.host_tokens.as<int32_t>()[i] = tokens[static_cast<std::size_t>(i)];
    // An inactive row rewrites its last slot; its output is not used.
    b.host_positions.as<int32_t>()[i] = static_cast<int32_t>(grows ? length : length - 1);
  }

  // The graph is captured at the second call: the first runs eagerly so that every lazily
  // created handle (cuBLAS, its workspace) exists before capture.
  const bool graph = cuda_graphs_ && device_.is_cuda() && b.batch == 1;
  if (graph && b.decode_graph.ready()) {
    b.decode_graph.replay(stream_);
  } else if (graph && b.decode_calls >= 1) {
    b.decode_graph.begin_capture(stream_);
    enqueue_decode();
    b.decode_graph.end_capture(stream_);
    b.decode_graph.replay(stream_);
  } else {
    enqueue_decode();
  }
  ++b.decode_calls;
  for (int64_t i = 0; i < b.batch; ++i)
    if (active[static_cast<std::size_t>(i)]) ++b.lengths[static_cast<std::size_t>(i)];
}

std::vector<int32_t> Gpt2::sample(const kernels::SamplingParams& params, uint64_t seed, uint64_t step) {
  Buffers& b = buffers_;
  kernels::sample(b.sampled, b.logits, params, seed, step, b.sampling_workspace, stream_);
  const auto bytes = static_cast<std::size_t>(b.batch) * sizeof(int32_t);
  memcpy_async(b.host_sampled.data(), b.sampled.data_ptr(), bytes, stream_);
  stream_.synchronize();
  const int32_t* sampled = b.host_sampled.as<int32_t>();
  return std::vector<int32_t>(sampled, sampled + b.batch);
}

Tensor Gpt2::forward(std::span<const int32_t> tokens) {
  const auto n = static_cast<int64_t>(tokens.size());
  PTHRUN_CHECK(n >= 1, "forward of an empty token list");
  PTHRUN_CHECK(n <= config_.context, n, " tokens are more than the model's context of ", config_.context);
  start(1, n);
  Tensor logits = prefill(0, tokens, /*all_logits=*/true);
  stream_.synchronize();  // the copy below runs on another stream
  return logits.to(cpu_device);
}

}  // namespace pthrun
