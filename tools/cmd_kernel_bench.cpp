// pthrun kernel-bench: the kernels of a GPT-2 forward pass, one by one and chained, on random
// weights of a GPT-2 size (no checkpoint needed).
//
// Rows: each kernel at the shapes one layer of a T-token prefill uses; then "forward", the
// whole chain of kernel calls of a T-token forward pass with all T rows of logits, as
// `pthrun forward` computes it; "prefill", the same with the last row's logits only, as
// generation (and llama.cpp's llama-bench) computes it; then "decode", one token at position T
// (or at each of --decode-at) over the KV cache, at batch 1. With --batch B, the products also at B
// rows computed row by row as a server's batched decode step computes them
// (MatmulOptions::row_invariant); with --row-invariant, every product so, the chain's prefill
// included, as a prefill sharing a server's decode step would run. Each row is the median of
// --repeats timed runs after one warm-up run; GPU rows are timed with CUDA events on one
// stream. The allocator's peak shows what the run held.
//
// On the CPU, --weights stores the matrices in bf16, f16 or int8 with f32 activations (the
// CPU's reduced-precision form, kernels/linear_weight.h), and --layout in_out stores them as
// Hugging Face's Conv1D does. The decode rows are set against the floor of the memory: the
// bytes of weights one token reads over the read bandwidth of the same threads, measured
// in the same run (kernels/memory_probe.h).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cpu_isa.h"
#include "kernels/cuda_gemm.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/memory_probe.h"
#include "kernels/sampling.h"
#include "model/config.h"
#include "model/gpt2.h"
#include "runtime/allocator.h"
#include "runtime/error.h"
#include "runtime/json.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"
#include "tools/cli.h"
#include "tools/model_options.h"
#include "tools/quantization_error.h"

namespace pthrun::cli {

namespace {

using namespace pthrun::kernels;

struct Size {
  const char* name;
  int64_t C, L, NH;
};
constexpr int64_t kVocab = kGpt2VocabSize, kContext = kGpt2Context;

// Deterministic uniform values in [-scale, scale] + offset (xorshift: fast enough for gpt2-xl).
Tensor random_weight(const Shape& shape, DType dtype, Device device, uint64_t& state, float scale = 0.035f,
                     float offset = 0) {
  std::vector<float> values(static_cast<std::size_t>(shape_numel(shape)));
  for (float& v : values) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    v = offset + scale * (static_cast<float>(state >> 40) * (2.0f / 16777216.0f) - 1.0f);
  }
  return Tensor::from_vector(values, shape).to(dtype).to(device);
}

struct Layer {
  Tensor ln1_w, ln1_b, qkv_b, proj_b, ln2_w, ln2_b, fc_b, fc2_b;
  LinearWeight qkv, proj, fc, fc2;
  Tensor k_cache, v_cache;  // (1, NH, T_max, HS)
};

struct Model {
  Size size;
  Tensor wte, wpe, lnf_w, lnf_b;  // wte (V, C) for the embedding
  LinearWeight head;              // wte as the output head, in the weights' dtype
  std::vector<Layer> layers;

  // Bytes of weights one decode step reads: every matrix once (the embedding's two rows aside).
  int64_t decode_weight_bytes() const {
    int64_t bytes = head.nbytes();
    for (const Layer& l : layers) bytes += l.qkv.nbytes() + l.proj.nbytes() + l.fc.nbytes() + l.fc2.nbytes();
    return bytes;
  }
};

// How the matrices are stored.
struct WeightFormat {
  DType dtype;          // f32, bf16, f16 or i8
  WeightLayout layout;  // int8 is always out_in
  int64_t group;        // int8's inputs per scale
};

// A matrix of `out` x `in` weights, random, in the format asked for; `values` (out, in) f32 on
// the CPU when given (the output head shares wte's values).
LinearWeight matrix(int64_t out, int64_t in, const WeightFormat& f, DType dtype, Device device, uint64_t& state,
                    Tensor values = Tensor()) {
  if (!values.defined()) values = random_weight({out, in}, DType::f32, cpu_device, state);
  if (f.dtype == DType::i8) return quantize_int8({values, WeightLayout::out_in, {}, 0}, f.group);
  if (f.layout == WeightLayout::in_out) values = values.transpose(0, 1).contiguous();
  (void)dtype;
  return {values.to(f.dtype).to(device), f.layout, {}, 0};
}

Model make_model(const Size& size, DType dtype, const WeightFormat& format, DType kv_dtype, Device device) {
  uint64_t state = 0x9e3779b97f4a7c15ull;
  const int64_t C = size.C;
  auto w = [&](const Shape& shape) { return random_weight(shape, dtype, device, state); };
  auto m_ = [&](int64_t out, int64_t in) { return matrix(out, in, format, dtype, device, state); };
  auto ln = [&](float offset) { return random_weight({C}, dtype, device, state, 0.1f, offset); };
  const Tensor wte32 = random_weight({kVocab, C}, DType::f32, cpu_device, state);
  Model m{size, wte32.to(dtype).to(device), w({kContext, C}), ln(1), ln(0), {}, {}};
  m.head = format.dtype == dtype && format.layout == WeightLayout::out_in
               ? LinearWeight{m.wte, WeightLayout::out_in, {}, 0}
               : matrix(kVocab, C, {format.dtype, WeightLayout::out_in, format.group}, dtype, device, state, wte32);
  for (int64_t l = 0; l < size.L; ++l) {
    Layer layer;
    layer.ln1_w = ln(1), layer.ln1_b = ln(0);
    layer.qkv = m_(3 * C, C), layer.qkv_b = w({3 * C});
    layer.proj = m_(C, C), layer.proj_b = w({C});
    layer.ln2_w = ln(1), layer.ln2_b = ln(0);
    layer.fc = m_(4 * C, C), layer.fc_b = w({4 * C});
    layer.fc2 = m_(C, 4 * C), layer.fc2_b = w({C});
    layer.k_cache = Tensor::zeros({1, size.NH, kContext, C / size.NH}, kv_dtype, device);
    layer.v_cache = Tensor::zeros({1, size.NH, kContext, C / size.NH}, kv_dtype, device);
    m.layers.push_back(std::move(layer));
  }
  return m;
}

// Activations for up to T rows, allocated once; token ids and positions for the whole context.
struct Buffers {
  Tensor x, h, qkv, att, y, fc, logits, tokens, positions, sequences, workspace, sampled, sample_workspace;
};

Buffers make_buffers(const Size& size, int64_t T, DType dtype, Device device) {
  const int64_t C = size.C;
  std::vector<int32_t> tokens, positions;
  for (int64_t t = 0; t < kContext; ++t) tokens.push_back(static_cast<int32_t>(t * 7919 % kVocab));
  for (int64_t t = 0; t < kContext; ++t) positions.push_back(static_cast<int32_t>(t));
  auto ints = [&](const std::vector<int32_t>& v) {
    return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}, device);
  };
  return {Tensor::empty({T, C}, dtype, device),
          Tensor::empty({T, C}, dtype, device),
          Tensor::empty({T, 3 * C}, dtype, device),
          Tensor::empty({T, C}, dtype, device),
          Tensor::empty({T, C}, dtype, device),
          Tensor::empty({T, 4 * C}, dtype, device),
          Tensor::empty({T, kVocab}, DType::f32, device),
          ints(tokens),
          ints(positions),
          ints(std::vector<int32_t>(static_cast<std::size_t>(T), 0)),
          Tensor::empty({attention_decode_workspace_elems(1, static_cast<int>(size.NH), kContext, C / size.NH)},
                        DType::f32, device),
          Tensor::empty({1}, DType::i32, device),
          Tensor::empty({sampling_workspace_elems(1, kVocab)}, DType::f32, device)};
}

// The kernels of a forward pass over rows [0, n) of the buffers, at positions pos0 ..
// pos0 + n - 1, with the logits of every row or of the last; decode (n = 1) attends through
// attention_decode.
void forward(Model& m, Buffers& b, int64_t n, int64_t pos0, bool all_logits, const MatmulOptions& matmul,
             const Stream& s) {
  const int NH = static_cast<int>(m.size.NH);
  auto rows = [n](const Tensor& t) { return t.slice(0, 0, n); };
  Tensor x = rows(b.x), h = rows(b.h), qkv = rows(b.qkv), att = rows(b.att), y = rows(b.y), fc = rows(b.fc);
  Tensor positions = b.positions.slice(0, pos0, pos0 + n), sequences = rows(b.sequences);
  embedding(x, rows(b.tokens), positions, m.wte, m.wpe, s);
  for (std::size_t l = 0; l < m.layers.size(); ++l) {
    Layer& w = m.layers[l];
    if (l == 0)
      layernorm(h, x, w.ln1_w, w.ln1_b, 1e-5f, s);
    else
      residual_layernorm(x, h, y, w.ln1_w, w.ln1_b, 1e-5f, s);
    linear(qkv, h, w.qkv, w.qkv_b, Epilogue::none, matmul, s);
    kv_cache_append(w.k_cache, w.v_cache, qkv, sequences, positions, NH, s);
    if (n == 1)
      attention_decode(att, qkv, w.k_cache, w.v_cache, positions, NH, b.workspace, s);
    else
      attention_prefill(att, qkv, w.k_cache.select(0, 0), w.v_cache.select(0, 0), pos0, NH, s);
    linear(y, att, w.proj, w.proj_b, Epilogue::none, matmul, s);
    residual_layernorm(x, h, y, w.ln2_w, w.ln2_b, 1e-5f, s);
    linear(fc, h, w.fc, w.fc_b, Epilogue::gelu, matmul, s);
    linear(y, fc, w.fc2, w.fc2_b, Epilogue::none, matmul, s);
  }
  residual_layernorm(x, h, y, m.lnf_w, m.lnf_b, 1e-5f, s);
  if (all_logits)
    linear(rows(b.logits), h, m.head, Tensor(), Epilogue::none, matmul, s);
  else
    linear(b.logits.slice(0, 0, 1), h.slice(0, n - 1, n), m.head, Tensor(), Epilogue::none, matmul, s);
}

// Milliseconds of one call of f: CUDA events on the GPU, the steady clock on the CPU.
double time_ms(Device device, const Stream& s, const std::function<void()>& f) {
  if (device.is_cpu()) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  Event start = Event::create(device, true), end = Event::create(device, true);
  start.record(s);
  f();
  end.record(s);
  end.synchronize();
  return end.elapsed_ms_since(start);
}

struct Row {
  std::string name, shape;
  double median_ms;
  double gflop;   // work of one call, 0 when not meaningful
  double gbytes;  // weights one call reads (rows of one token), 0 when not meaningful
};

Row measure(const std::string& name, const std::string& shape, double gflop, int repeats, Device device,
            const Stream& s, const std::function<void()>& f, double gbytes = 0) {
  f();  // warm-up: plans, workspaces, caches
  s.synchronize();
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) ms.push_back(time_ms(device, s, f));
  std::sort(ms.begin(), ms.end());
  return {name, shape, ms[ms.size() / 2], gflop, gbytes};
}

struct KernelBenchArgs {
  std::string device, dtype = "f32", weights, kv_dtype, layout = "out_in", cpu_isa, size = "gpt2-small", decode_at,
      quantization_error;
  int64_t tokens = 128, repeats = 10, group = 64, batch = 0;
  bool tf32 = false, chain = false, json = false, row_invariant = false;
};

WeightFormat weight_format(const KernelBenchArgs& args, DType dtype, Device device) {
  WeightFormat f{dtype, WeightLayout::out_in, args.group};
  if (args.group % 16 != 0) throw UsageError(str("--group ", args.group, ": expected a multiple of 16"));
  if (!args.weights.empty()) {
    f.dtype = args.weights == "int8" ? DType::i8 : *parse_dtype(args.weights);
    PTHRUN_CHECK(f.dtype == dtype || (device.is_cpu() && dtype == DType::f32), "--weights ", args.weights,
                 ": weights of another dtype than the activations run on the CPU only, with --dtype f32");
  }
  f.layout = args.layout == "in_out" && f.dtype != DType::i8 ? WeightLayout::in_out : WeightLayout::out_in;
  return f;
}

const char* weight_name(DType dtype) { return dtype == DType::i8 ? "int8" : dtype_short_name(dtype); }

int run_kernel_bench(const KernelBenchArgs& args) {
  if (!args.quantization_error.empty()) return print_quantization_error(args.quantization_error, 64);
  const Device device = args.device.empty() ? default_device() : parse_device_option(args.device);
  const DType dtype = *parse_dtype(args.dtype);
  PTHRUN_CHECK(device.is_cuda() || dtype == DType::f32, "--dtype ", args.dtype,
               ": the CPU's activations are f32 (--weights stores the weights in bf16, f16 or int8)");
  const WeightFormat format = weight_format(args, dtype, device);
  // As a model of these weights keeps its cache (note [KV cache dtype] in model/gpt2.h).
  const DType kv_dtype = args.kv_dtype.empty() ? default_kv_dtype(device, format.dtype) : *parse_dtype(args.kv_dtype);
  PTHRUN_CHECK(device.is_cpu() || kv_dtype == dtype, "--kv-dtype ", args.kv_dtype,
               ": a GPU keeps the KV cache in the activations' dtype, ", dtype_short_name(dtype));
  if (!args.cpu_isa.empty()) {
    const CpuIsa isa = *parse_cpu_isa(args.cpu_isa);
    PTHRUN_CHECK(isa <= detected_cpu_isa(), "--cpu-isa ", args.cpu_isa, ": this CPU runs at most ",
                 cpu_isa_name(detected_cpu_isa()));
    limit_cpu_isa(isa);
  }
  const Gpt2Preset* preset = find_preset(args.size);
  const Size sizes[] = {{preset->name, preset->channels, preset->layers, preset->heads}};
  const Size* size = &sizes[0];
  const int64_t T = args.tokens;
  const int repeats = static_cast<int>(args.repeats);
  PTHRUN_CHECK(device.is_cpu() || !args.row_invariant,
               "--row-invariant: only the CPU's products compute a row as alone; cuBLAS picks its algorithm by shape");
  const MatmulOptions matmul{.allow_tf32 = args.tf32, .row_invariant = args.row_invariant};
  const std::vector<int64_t> decode_at =
      args.decode_at.empty() ? std::vector<int64_t>{T} : parse_int_list(args.decode_at, "--decode-at");
  for (int64_t p : decode_at)
    if (p < 0 || p >= kContext) throw UsageError(str("--decode-at ", p, ": expected positions in [0, ", kContext, ")"));
  if (args.batch > T) throw UsageError(str("--batch ", args.batch, ": expected at most --tokens (", T, ") rows"));

  Model m = make_model(*size, dtype, format, kv_dtype, device);
  Buffers b = make_buffers(*size, T, dtype, device);
  const Stream s(device);
  const int64_t C = size->C, NH = size->NH;
  auto t_rows = [T](const Tensor& t) { return t.slice(0, 0, T); };
  Layer& w = m.layers[0];
  // A layer's matrix (`matrix` of every layer in turn at one row and batched, so that a decode-
  // shaped product streams its weight from memory, as in a decode step, rather than from the
  // cache the previous call filled) or the output head (`matrix` null).
  auto linear_row = [&](const char* name, const Tensor& out, const Tensor& x, LinearWeight Layer::*matrix,
                        Tensor Layer::*bias, Epilogue e, int64_t n) {
    const LinearWeight& first = matrix ? w.*matrix : m.head;
    const int64_t I = first.in_features(), O = first.out_features();
    auto rows = [n](const Tensor& t) { return t.slice(0, 0, n); };
    const bool batched = n == args.batch;
    MatmulOptions options = matmul;
    options.row_invariant = batched || args.row_invariant;
    auto call = [&, matrix, bias, e, n, options, layer = std::size_t{0}]() mutable {
      const Layer& l = m.layers[n == 1 || batched ? layer++ % m.layers.size() : 0];
      linear(rows(out), rows(x), matrix ? l.*matrix : m.head, matrix ? l.*bias : Tensor(), e, options, s);
    };
    const std::string label = n == 1 ? ", 1 row" : batched ? str(", ", n, " rows batched") : "";
    return measure(str(name, label), str("(", n, ", ", I, ") x (", I, ", ", O, ")"),
                   2.0 * n * I * O * 1e-9, repeats, device, s, call,
                   n == 1 ? static_cast<double>(first.nbytes()) * 1e-9 : 0);
  };

  std::vector<Row> rows;
  if (!args.chain) {
    const std::string tc = str("(", T, ", ", C, ")");
    rows.push_back(measure("embedding", tc, 0, repeats, device, s,
                           [&] { embedding(t_rows(b.x), t_rows(b.tokens), t_rows(b.positions), m.wte, m.wpe, s); }));
    rows.push_back(measure("layernorm", tc, 0, repeats, device, s,
                           [&] { layernorm(t_rows(b.h), t_rows(b.x), w.ln1_w, w.ln1_b, 1e-5f, s); }));
    rows.push_back(measure("residual_layernorm", tc, 0, repeats, device, s, [&] {
      residual_layernorm(t_rows(b.x), t_rows(b.h), t_rows(b.y), w.ln2_w, w.ln2_b, 1e-5f, s);
    }));
    std::vector<int64_t> row_counts{T, 1};
    if (args.batch > 1) row_counts.push_back(args.batch);
    for (int64_t n : row_counts) {
      rows.push_back(linear_row("linear qkv", b.qkv, b.h, &Layer::qkv, &Layer::qkv_b, Epilogue::none, n));
      rows.push_back(linear_row("linear proj", b.y, b.att, &Layer::proj, &Layer::proj_b, Epilogue::none, n));
      rows.push_back(linear_row("linear fc+gelu", b.fc, b.h, &Layer::fc, &Layer::fc_b, Epilogue::gelu, n));
      rows.push_back(linear_row("linear fc2", b.y, b.fc, &Layer::fc2, &Layer::fc2_b, Epilogue::none, n));
      rows.push_back(linear_row("linear lm_head", b.logits, b.h, nullptr, nullptr, Epilogue::none, n));
    }
    rows.push_back(measure("kv_cache_append", str(T, " rows"), 0, repeats, device, s, [&] {
      kv_cache_append(w.k_cache, w.v_cache, t_rows(b.qkv), t_rows(b.sequences), t_rows(b.positions),
                      static_cast<int>(NH), s);
    }));
    // Causal attention: T^2/2 query-key pairs, 2 * HS flops each for scores and for values.
    rows.push_back(measure("attention_prefill", str("T=", T, " NH=", NH, " HS=", C / NH), 2.0 * T * T * C * 1e-9,
                           repeats, device, s, [&] {
                             attention_prefill(t_rows(b.att), t_rows(b.qkv), w.k_cache.select(0, 0),
                                               w.v_cache.select(0, 0), 0, static_cast<int>(NH), s);
                           }));
    for (int64_t p : decode_at)
      rows.push_back(
          measure("attention_decode", str("B=1 at position ", p), 4.0 * (p + 1) * C * 1e-9, repeats, device, s, [&] {
            attention_decode(b.att.slice(0, 0, 1), b.qkv.slice(0, 0, 1), w.k_cache, w.v_cache,
                             b.positions.slice(0, p, p + 1), static_cast<int>(NH), b.workspace, s);
          }));
    const Tensor last_logits = b.logits.slice(0, 0, 1);
    rows.push_back(measure("sample greedy", str("V=", kVocab), 0, repeats, device, s,
                           [&] { sample(b.sampled, last_logits, SamplingParams{}, 1, 0, b.sample_workspace, s); }));
    rows.push_back(measure("sample T=0.8 k=50 p=0.95", str("V=", kVocab), 0, repeats, device, s, [&] {
      sample(b.sampled, last_logits, {.temperature = 0.8f, .top_k = 50, .top_p = 0.95f}, 1, 0, b.sample_workspace, s);
    }));
  }
  const double params = static_cast<double>(size->L) * 12 * C * C + static_cast<double>(kVocab) * C;
  const double weight_gb = static_cast<double>(m.decode_weight_bytes()) * 1e-9;
  const double block_params = static_cast<double>(size->L) * 12 * C * C;
  rows.push_back(measure("forward", str(size->name, ", ", T, " tokens"), 2.0 * params * T * 1e-9, repeats, device, s,
                         [&] { forward(m, b, T, 0, true, matmul, s); }));
  rows.push_back(measure("prefill", str(size->name, ", ", T, " tokens"),
                         2.0 * (block_params * T + static_cast<double>(kVocab) * C) * 1e-9, repeats, device, s,
                         [&] { forward(m, b, T, 0, false, matmul, s); }));
  const std::size_t first_decode = rows.size();
  for (int64_t p : decode_at)
    rows.push_back(measure(
        "decode", str(size->name, ", 1 token at ", p), 2.0 * params * 1e-9, repeats, device, s,
        [&] {
          Buffers one = b;
          one.tokens = b.tokens.slice(0, p, p + 1);
          forward(m, one, 1, p, true, matmul, s);
        },
        weight_gb));
  // The floor of a decode step: its weights read once at the threads' read bandwidth.
  const double bandwidth = device.is_cpu() ? cpu_read_bandwidth(int64_t{512} << 20, 5) : 0;
  const double floor_ms = bandwidth > 0 ? weight_gb * 1e9 / bandwidth * 1e3 : 0;

  const AllocatorStats stats = device_allocator(device).stats();
  const int64_t peak = stats.allocated_bytes[all_pools].peak;
  const std::string layout_name = format.layout == WeightLayout::out_in ? "out_in" : "in_out";
  if (args.json) {
    JsonWriter j;
    j.begin_object().key("device").value(device.to_string()).key("dtype").value(dtype_name(dtype));
    j.key("weights").value(weight_name(format.dtype)).key("layout").value(layout_name);
    j.key("kv_dtype").value(dtype_short_name(kv_dtype)).key("row_invariant").value(args.row_invariant);
    j.key("cpu_isa").value(device.is_cpu() ? cpu_isa_name(active_cpu_isa()) : "");
    j.key("blas_kernels").value(device.is_cpu() ? kernels::cpu::blas_kernels() : "");
    j.key("size").value(size->name).key("tokens").value(T).key("peak_allocated_bytes").value(peak);
    j.key("gemm_fallbacks").value(kernels::gemm_fallback_count());
    j.key("decode_weight_bytes").value(m.decode_weight_bytes());
    j.key("read_bandwidth_bytes_per_second").value(bandwidth).key("decode_floor_ms").value(floor_ms);
    j.key("rows").begin_array();
    for (const Row& r : rows)
      j.newline()
          .begin_object()
          .key("kernel")
          .value(r.name)
          .key("shape")
          .value(r.shape)
          .key("median_ms")
          .value(r.median_ms)
          .end_object();
    j.end_array().end_object();
    std::printf("%s\n", j.text().c_str());
    return 0;
  }
  std::printf("%s, %s activations, %s weights (%s), %s KV cache, %s, %lld tokens, median of %d runs%s%s%s%s%s\n",
              device_properties(device).name.c_str(), dtype_name(dtype), weight_name(format.dtype), layout_name.c_str(),
              dtype_short_name(kv_dtype), size->name, static_cast<long long>(T), repeats, device.is_cpu() ? ", kernels for " : "",
              device.is_cpu() ? cpu_isa_name(active_cpu_isa()) : "", device.is_cpu() ? ", OpenBLAS's for " : "",
              device.is_cpu() ? kernels::cpu::blas_kernels() : "",
              args.row_invariant ? ", every product row-invariant" : "");
  std::printf("%-26s %-30s %12s %12s %10s\n", "kernel", "shape", "median ms", "GFLOP/s", "GB/s");
  for (const Row& r : rows) {
    std::printf("%-26s %-30s %12.3f", r.name.c_str(), r.shape.c_str(), r.median_ms);
    if (r.gflop > 0)
      std::printf(" %12.1f", r.gflop / r.median_ms * 1e3);
    else
      std::printf(" %12s", "");
    if (r.gbytes > 0) std::printf(" %10.1f", r.gbytes / r.median_ms * 1e3);
    std::printf("\n");
  }
  const double forward_ms = rows[first_decode - 2].median_ms, prefill_ms = rows[first_decode - 1].median_ms;
  std::printf("forward %.1f tokens/s, prefill %.1f tokens/s; allocator peak %s\n",
              static_cast<double>(T) / forward_ms * 1e3, static_cast<double>(T) / prefill_ms * 1e3,
              format_bytes(static_cast<double>(peak)).c_str());
  for (std::size_t r = first_decode; r < rows.size(); ++r)
    std::printf("decode at %lld: %.2f ms/token, %.2f of the floor\n",
                static_cast<long long>(decode_at[r - first_decode]), rows[r].median_ms,
                floor_ms > 0 ? floor_ms / rows[r].median_ms : 0.0);
  if (bandwidth > 0)
    std::printf("read bandwidth %.1f GB/s; %s of weights per token; floor %.2f ms/token\n", bandwidth * 1e-9,
                format_bytes(weight_gb * 1e9).c_str(), floor_ms);
  // Products cuBLASLt refused, which ran on the naive kernel (kernels/cuda_gemm.h).
  if (device.is_cuda()) {
    std::printf("GEMM fallbacks to the naive kernel: %lld\n", static_cast<long long>(kernels::gemm_fallback_count()));
    for (const kernels::GemmFallback& f : kernels::gemm_fallbacks())
      std::printf("  %lld x %s\n", static_cast<long long>(f.count), f.shape.to_string().c_str());
  }
  return 0;
}

}  // namespace

extern const Command kernel_bench_command = {
    "kernel-bench", "Time the kernels of a GPT-2 forward pass on random weights",
    [](CLI::App& app) {
      auto args = std::make_shared<KernelBenchArgs>();
      add_device_option(app, args->device, "cpu, cuda or cuda:N (default: cuda when present)");
      app.add_option("--dtype", args->dtype, "activations: f32, bf16 or f16 (default f32; the CPU's are f32)")
          ->type_name("T")
          ->check(one_of({"f32", "bf16", "f16"}));
      app.add_option("--weights", args->weights, "CPU: store the matrices in f32, bf16, f16 or int8 (default: --dtype)")
          ->type_name("T")
          ->check(one_of({"f32", "bf16", "f16", "int8"}));
      app.add_option("--kv-dtype", args->kv_dtype,
                     "the KV cache's dtype: f32, bf16 or f16 (default: a model's of these weights, model/gpt2.h)")
          ->type_name("T")
          ->check(one_of({"f32", "bf16", "f16"}));
      app.add_option("--group", args->group, "int8 weights: inputs per scale, a multiple of 16 (default 64)")
          ->type_name("G")
          ->check(integer_in(16, 1 << 20));
      app.add_option("--layout", args->layout, "matrices stored out_in (nn.Linear, default) or in_out (HF Conv1D)")
          ->type_name("L")
          ->check(one_of({"out_in", "in_out"}));
      app.add_option("--cpu-isa", args->cpu_isa, "CPU kernels for at most baseline, avx2, avx512 or avx512_bf16")
          ->type_name("L")
          ->check(one_of({"baseline", "avx2", "avx512", "avx512_bf16"}));
      app.add_option("--size", args->size, "gpt2-small, gpt2-medium, gpt2-large or gpt2-xl (default gpt2-small)")
          ->type_name("NAME")
          ->check(one_of({"gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl"}));
      app.add_option("--tokens", args->tokens, "prompt length of the prefill rows (default 128)")
          ->type_name("T")
          ->check(integer_in(2, kContext - 1));
      app.add_option("--decode-at", args->decode_at, "positions of the decode rows (default: --tokens)")
          ->type_name("P,...");
      app.add_option("--batch", args->batch, "also time the products at B rows as a batched decode step computes them")
          ->type_name("B")
          ->check(integer_in(0, kContext - 1));
      app.add_option("--repeats", args->repeats, "timed runs per row; the median is shown (default 10)")
          ->type_name("N")
          ->check(integer_in(1, 100000));
      app.add_flag("--tf32", args->tf32, "let f32 products on the GPU use TF32");
      app.add_flag("--chain", args->chain, "only the forward, prefill and decode rows");
      app.add_flag("--row-invariant", args->row_invariant,
                   "CPU: every product computes each row as alone, as a batched decode step does (prefill too)");
      app.add_flag("--json", args->json, "print JSON instead of a table");
      app.add_option("--quantization-error", args->quantization_error,
                     "instead: the error bf16, f16 and int8 storage adds to CKPT's matrix products")
          ->type_name("CKPT");
      return [args] { return run_kernel_bench(*args); };
    },
    "Weights are random: the timings are those of the kernels, not of a checkpoint's load."};

}  // namespace pthrun::cli
