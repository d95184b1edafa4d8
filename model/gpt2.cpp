// Gpt2Model: loading (checked first, then allocated, then streamed, mapped or quantized into
// place), random models for benchmarks, and the whole-sequence forward of one prompt.
#include "model/gpt2.h"

#include "model/config_file.h"
#include "model/random_init.h"
#include "model/session.h"
#include "runtime/error.h"
#include "runtime/half.h"

namespace pthrun {

Gpt2Model::Gpt2Model(const ModelOptions& options)
    : device_(options.device.value_or(default_device())), dtype_(options.dtype), matmul_{.allow_tf32 = options.tf32} {
  PTHRUN_CHECK((is_floating(dtype_) && dtype_ != DType::f64) || dtype_ == DType::i8, "--dtype ",
               dtype_short_name(dtype_), ": expected f32, bf16, f16 or int8");
  PTHRUN_CHECK(device_.is_cpu() || dtype_ != DType::i8, "--dtype int8 is for the CPU; a GPU runs f32, bf16 or f16");
  kv_dtype_ = options.kv_dtype.value_or(default_kv_dtype(device_, dtype_));
  PTHRUN_CHECK(kv_dtype_ == DType::f32 || kv_dtype_ == DType::bf16 || kv_dtype_ == DType::f16, "--kv-dtype ",
               dtype_short_name(kv_dtype_), ": expected f32, bf16 or f16");
  PTHRUN_CHECK(device_.is_cpu() || kv_dtype_ == activation_dtype(), "--kv-dtype ", dtype_short_name(kv_dtype_),
               " on ", device_.to_string(), ": a GPU keeps the KV cache in the activations' dtype, ",
               dtype_short_name(activation_dtype()));
  if (device_.is_cuda()) set_current_device(device_);
}

DType default_kv_dtype(Device device, DType weight_dtype) {
  return device.is_cpu() && weight_dtype != DType::f32 ? DType::f16 : activation_dtype(device, weight_dtype);
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

namespace {

// Quantizes one int8 matrix (or a row block of one: the book's W_query is a third of qkv) as
// the checkpoint streams it by. The builder, with its group of f32 rows, exists only while its
// tensor streams: one at a time, however many matrices the model has.
class Int8Sink : public ElementSink {
 public:
  Int8Sink(const kernels::LinearWeight& destination, kernels::WeightLayout source_layout)
      : destination_(destination), source_layout_(source_layout) {}
  void append(const float* values, int64_t count) override {
    if (!builder_) builder_.emplace(destination_, DType::f32, source_layout_);
    builder_->append(values, count * static_cast<int64_t>(sizeof(float)));
  }
  void finish() override {
    if (!builder_) builder_.emplace(destination_, DType::f32, source_layout_);  // an empty matrix
    builder_->finish();
    builder_.reset();
  }

 private:
  kernels::LinearWeight destination_;
  kernels::WeightLayout source_layout_;
  std::optional<kernels::Int8WeightBuilder> builder_;
};

// Writes an [in, out] matrix (Conv1D's layout) into its [out, in] destination as the
// checkpoint streams it by, rounded to the destination's bf16 or f16 as any conversion rounds
// (runtime/half.h). The CPU's 16-bit products stream weight rows; across an [in, out] matrix
// they would read a short run of every row instead.
class TransposingSink : public ElementSink {
 public:
  explicit TransposingSink(const Tensor& destination)
      : out_(static_cast<uint16_t*>(destination.data_ptr())),
        bf16_(destination.dtype() == DType::bf16),
        O_(destination.size(0)),
        I_(destination.size(1)) {}
  void append(const float* values, int64_t count) override {
    for (int64_t k = 0; k < count; ++k) {
      out_[o_ * I_ + i_] = bf16_ ? f32_to_bf16(values[k]) : f32_to_f16(values[k]);
      if (++o_ == O_) o_ = 0, ++i_;
    }
  }
  void finish() override { PTHRUN_ASSERT(i_ == I_ && o_ == 0); }

 private:
  uint16_t* out_;
  bool bf16_;
  int64_t O_, I_, o_ = 0, i_ = 0;
};

// The layout of a model's block matrices: the checkpoint's, except that int8 matrices and
// 16-bit matrices the CPU converts from another dtype are stored [out, in] (the CPU's
// products stream weight rows; see Int8Sink, TransposingSink); what is used in place stays as
// the file has it.
kernels::WeightLayout model_matrix_layout(const StateDictLayout& layout, Device device, DType dtype) {
  const bool converted_16_bit = device.is_cpu() && (dtype == DType::bf16 || dtype == DType::f16) && layout.dtype != dtype;
  return dtype == DType::i8 || converted_16_bit ? kernels::WeightLayout::out_in : layout.matrix_layout;
}

// The block matrix (qkv, proj, fc, fc_proj of some layer) whose storage `destination` is in,
// or null.
const Tensor* block_matrix(const Gpt2Weights& w, const Tensor& destination) {
  for (const Gpt2LayerWeights& l : w.layers)
    for (const Tensor* matrix : {&l.qkv_w, &l.proj_w, &l.fc_w, &l.fc_proj_w})
      if (destination.storage() == matrix->storage()) return matrix;
  return nullptr;
}

// The requests that fill an int8 model: each one aimed at an int8 matrix becomes a sink that
// quantizes into it (or into the row block the plan's view selects).
std::vector<LoadRequest> quantizing_requests(std::vector<LoadRequest> requests, const Gpt2Weights& w,
                                             kernels::WeightLayout checkpoint_layout) {
  struct Matrix {
    kernels::LinearWeight weight;
    kernels::WeightLayout source_layout;
  };
  std::vector<Matrix> matrices = {{w.head_weight(), kernels::WeightLayout::out_in}};
  for (const Gpt2LayerWeights& l : w.layers)
    for (auto [values, scales] : {std::pair{&l.qkv_w, &l.qkv_s}, {&l.proj_w, &l.proj_s}, {&l.fc_w, &l.fc_s},
                                  {&l.fc_proj_w, &l.fc_proj_s}})
      matrices.push_back({w.matrix(*values, *scales), checkpoint_layout});
  for (LoadRequest& r : requests) {
    if (r.destination.dtype() != DType::i8) continue;
    const Matrix* m = nullptr;
    for (const Matrix& candidate : matrices)
      if (candidate.weight.values.storage() == r.destination.storage()) m = &candidate;
    PTHRUN_ASSERT(m != nullptr);  // every int8 tensor is one of the matrices
    // The destination is a block of whole rows of the (O, I) matrix.
    const int64_t I = m->weight.in_features();
    const int64_t row0 = (r.destination.storage_offset() - m->weight.values.storage_offset()) / I;
    const int64_t rows = r.destination.numel() / I;
    const kernels::LinearWeight block{m->weight.values.slice(0, row0, row0 + rows), kernels::WeightLayout::out_in,
                                      m->weight.scales.slice(0, row0, row0 + rows), m->weight.group};
    r.sink = std::make_shared<Int8Sink>(block, m->source_layout);
    r.destination = Tensor();
  }
  return requests;
}

// Note [Zero-copy weights]. On the CPU a weight whose checkpoint tensor has the model's dtype,
// shape and layout, contiguous, in an uncompressed record of the machine's byte order, at an
// address aligned to 64 bytes, is a view of the mapped file (Checkpoint::map) rather than a
// copy: loading reads nothing, pages come in as the first forward pass touches them, and
// processes running one checkpoint share one copy in the page cache. The rest (conversions,
// the book's q/k/v fused into one matrix, int8) is streamed into buffers. The mapping is
// private and read-only; a file truncated under it reads as zeros (mapped_file.h) and the
// next step's check_mapped_weights() throws, naming the file.
//
// Returns the requests still to stream; the weights' mapped fields are swapped for views (their
// buffers, allocated and never touched, go back to the allocator).
std::vector<LoadRequest> map_in_place(const Checkpoint& checkpoint, Gpt2Weights& w, std::vector<LoadRequest> requests,
                                      uint64_t* mapped_bytes) {
  std::vector<LoadRequest> rest;
  for (LoadRequest& r : requests) {
    const Tensor& d = r.destination;
    const TensorInfo& s = r.source;
    const bool whole = d.defined() && d.device().is_cpu() && d.dtype() == s.dtype && d.storage_offset() == 0 &&
                       d.nbytes() == d.storage()->nbytes() && s.strides == contiguous_strides(s.shape);
    Tensor view;
    if (whole) {
      try {
        view = checkpoint.map(s);
      } catch (const Error&) {  // compressed or foreign byte order: copied instead
      }
    }
    if (!view.defined() || reinterpret_cast<uintptr_t>(view.data_ptr()) % 64 != 0) {
      rest.push_back(std::move(r));
      continue;
    }
    const std::shared_ptr<Storage> replaced = d.storage();
    for (Tensor* field : w.fields())
      if (field->defined() && field->storage() == replaced) *field = view;
    *mapped_bytes += view.nbytes();
  }
  return rest;
}

// The load requests of a model's weights. A head of its own next to a tied embedding (the CPU's
// reduced-precision head, see weights.h) is filled from the embedding's tensor.
std::vector<LoadRequest> weight_requests(const CheckedCheckpoint& checked, const Gpt2Weights& w) {
  std::vector<LoadRequest> requests = checked.plan.requests(w);
  if (checked.layout.config.tied_head && w.head.storage() != w.wte.storage())
    for (const LoadRequest& r : std::vector<LoadRequest>(requests))
      if (r.destination.defined() && r.destination.storage() == w.wte.storage()) requests.push_back({r.source, w.head});
  if (w.head.dtype() == DType::i8) return quantizing_requests(std::move(requests), w, checked.layout.matrix_layout);
  if (w.matrix_layout == checked.layout.matrix_layout) return requests;
  // Converted 16-bit matrices, [in, out] in the file: transposed while they stream.
  for (LoadRequest& r : requests) {
    const Tensor* matrix = r.destination.defined() ? block_matrix(w, r.destination) : nullptr;
    if (!matrix) continue;
    PTHRUN_ASSERT(r.destination.numel() == matrix->numel());  // [in, out] files hold whole matrices
    r.sink = std::make_shared<TransposingSink>(*matrix);
    r.destination = Tensor();
  }
  return requests;
}

}  // namespace

Gpt2Config Gpt2Model::read_config(const std::string& path, const ModelOptions& options) {
  return check_checkpoint(Checkpoint::open(path), path, options).layout.config;
}

std::shared_ptr<const Gpt2Model> Gpt2Model::load(const std::string& path, const ModelOptions& options) {
  std::shared_ptr<Gpt2Model> model(new Gpt2Model(options));

  // Everything about the checkpoint is checked before the first byte of device memory is
  // taken, so that a bad file costs nothing and leaves nothing half-built.
  Checkpoint checkpoint = Checkpoint::open(path);
  const CheckedCheckpoint checked = check_checkpoint(checkpoint, path, options);
  model->config_ = checked.layout.config;
  model->naming_ = checked.layout.naming;
  model->checkpoint_dtype_ = checked.layout.dtype;

  // With --verify every record is read (and checked); nothing is mapped in place.
  const bool map = options.mmap && !options.load.verify && model->device_.is_cpu();
  const Stream stream = Stream::create(model->device_);
  model->weights_ = allocate_weights(model->config_, model_matrix_layout(checked.layout, model->device_, model->dtype_),
                                     model->device_, model->dtype_, stream, /*reserve=*/!map);
  for (const Tensor& bias : checked.plan.zero_filled(model->weights_)) bias.fill_(0, &stream);
  std::vector<LoadRequest> requests = weight_requests(checked, model->weights_);
  if (map) {
    requests = map_in_place(checkpoint, model->weights_, std::move(requests), &model->mapped_bytes_);
    device_allocator(model->device_).empty_cache();  // the swapped buffers, never touched
  }
  model->load_stats_ = load_tensors(checkpoint, requests, options.load);
  stream.synchronize();  // sessions read the weights from streams of their own
  if (model->mapped_bytes_ > 0) model->mapped_checkpoint_.emplace(std::move(checkpoint));
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

void Gpt2Model::check_mapped_weights() const {
  if (mapped_checkpoint_) mapped_checkpoint_->check_intact();
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
