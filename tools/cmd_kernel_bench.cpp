// pthrun kernel-bench: the kernels of a GPT-2 forward pass, one by one and chained, on random
// weights of a GPT-2 size (no checkpoint needed).
//
// Rows: each kernel at the shapes one layer of a T-token prefill uses; then "prefill", the
// whole chain of kernel calls of a T-token forward pass with all T rows of logits, as
// `pthrun forward` computes it; then "decode", one token at position T over the KV cache, at
// batch 1. Each row is the median of --repeats timed runs after one warm-up run; GPU rows are
// timed with CUDA events on one stream. The allocator's peak shows what the run held.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cuda_gemm.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/sampling.h"
#include "model/config.h"
#include "runtime/allocator.h"
#include "runtime/error.h"
#include "runtime/json.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"
#include "tools/cli.h"
#include "tools/model_options.h"

namespace pthrun::cli {

namespace {

using namespace pthrun::kernels;

struct Size {
  const char* name;
  int64_t C, L, NH;
};
constexpr int64_t kVocab = 50257, kContext = 1024;

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
  Tensor ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, fc2_w, fc2_b;  // nn.Linear layout
  Tensor k_cache, v_cache;                                                                    // (1, NH, T_max, HS)
};

struct Model {
  Size size;
  Tensor wte, wpe, lnf_w, lnf_b;  // wte (V, C) is also the output head
  std::vector<Layer> layers;
};

Model make_model(const Size& size, DType dtype, Device device) {
  uint64_t state = 0x9e3779b97f4a7c15ull;
  const int64_t C = size.C;
  auto w = [&](const Shape& shape) { return random_weight(shape, dtype, device, state); };
  auto ln = [&](float offset) { return random_weight({C}, dtype, device, state, 0.1f, offset); };
  Model m{size, w({kVocab, C}), w({kContext, C}), ln(1), ln(0), {}};
  for (int64_t l = 0; l < size.L; ++l) {
    m.layers.push_back({ln(1), ln(0), w({3 * C, C}), w({3 * C}), w({C, C}), w({C}), ln(1), ln(0), w({4 * C, C}),
                        w({4 * C}), w({C, 4 * C}), w({C}),
                        Tensor::zeros({1, size.NH, kContext, C / size.NH}, dtype, device),
                        Tensor::zeros({1, size.NH, kContext, C / size.NH}, dtype, device)});
  }
  return m;
}

// Activations for up to T rows, allocated once.
struct Buffers {
  Tensor x, h, qkv, att, y, fc, logits, tokens, positions, sequences, workspace, sampled, sample_workspace;
};

Buffers make_buffers(const Size& size, int64_t T, DType dtype, Device device) {
  const int64_t C = size.C;
  std::vector<int32_t> tokens, positions;
  for (int64_t t = 0; t < T; ++t) tokens.push_back(static_cast<int32_t>(t * 7919 % kVocab));
  for (int64_t t = 0; t < T; ++t) positions.push_back(static_cast<int32_t>(t));
  auto ints = [&](const std::vector<int32_t>& v) { return Tensor::from_vector(v, {T}, device); };
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
// pos0 + n - 1; decode (n = 1) attends through attention_decode.
void forward(Model& m, Buffers& b, int64_t n, int64_t pos0, const MatmulOptions& matmul, const Stream& s) {
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
    linear(qkv, h, w.qkv_w, WeightLayout::out_in, w.qkv_b, Epilogue::none, matmul, s);
    kv_cache_append(w.k_cache, w.v_cache, qkv, sequences, positions, NH, s);
    if (n == 1)
      attention_decode(att, qkv, w.k_cache, w.v_cache, positions, NH, b.workspace, s);
    else
      attention_prefill(att, qkv, w.k_cache.select(0, 0), w.v_cache.select(0, 0), pos0, NH, s);
    linear(y, att, w.proj_w, WeightLayout::out_in, w.proj_b, Epilogue::none, matmul, s);
    residual_layernorm(x, h, y, w.ln2_w, w.ln2_b, 1e-5f, s);
    linear(fc, h, w.fc_w, WeightLayout::out_in, w.fc_b, Epilogue::gelu, matmul, s);
    linear(y, fc, w.fc2_w, WeightLayout::out_in, w.fc2_b, Epilogue::none, matmul, s);
  }
  residual_layernorm(x, h, y, m.lnf_w, m.lnf_b, 1e-5f, s);
  linear(rows(b.logits), h, m.wte, WeightLayout::out_in, Tensor(), Epilogue::none, matmul, s);
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
  double gflop;  // work of one call, 0 when not meaningful
};

Row measure(const std::string& name, const std::string& shape, double gflop, int repeats, Device device,
            const Stream& s, const std::function<void()>& f) {
  f();  // warm-up: plans, workspaces, caches
  s.synchronize();
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) ms.push_back(time_ms(device, s, f));
  std::sort(ms.begin(), ms.end());
  return {name, shape, ms[ms.size() / 2], gflop};
}

struct KernelBenchArgs {
  std::string device, dtype = "f32", size = "gpt2-small";
  int64_t tokens = 128, repeats = 10;
  bool tf32 = false, chain = false, json = false;
};

int run_kernel_bench(const KernelBenchArgs& args) {
  const Device device = args.device.empty() ? default_device() : parse_device_option(args.device);
  const DType dtype = *parse_dtype(args.dtype);
  PTHRUN_CHECK(device.is_cuda() || dtype == DType::f32, "--dtype ", args.dtype, ": the CPU runs in f32");
  const Gpt2Preset* preset = find_preset(args.size);
  const Size sizes[] = {{preset->name, preset->channels, preset->layers, preset->heads}};
  const Size* size = &sizes[0];
  const int64_t T = args.tokens;
  const int repeats = static_cast<int>(args.repeats);
  const MatmulOptions matmul{.allow_tf32 = args.tf32};

  Model m = make_model(*size, dtype, device);
  Buffers b = make_buffers(*size, T + 1, dtype, device);
  const Stream s(device);
  const int64_t C = size->C, NH = size->NH;
  auto t_rows = [T](const Tensor& t) { return t.slice(0, 0, T); };
  Layer& w = m.layers[0];
  auto linear_row = [&](const char* name, const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias,
                        Epilogue e) {
    const int64_t I = weight.size(1), O = weight.size(0);
    return measure(name, str("(", T, ", ", I, ") x (", I, ", ", O, ")"), 2.0 * T * I * O * 1e-9, repeats, device, s,
                   [&, e] { linear(t_rows(out), t_rows(x), weight, WeightLayout::out_in, bias, e, matmul, s); });
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
    rows.push_back(linear_row("linear qkv", b.qkv, b.h, w.qkv_w, w.qkv_b, Epilogue::none));
    rows.push_back(linear_row("linear proj", b.y, b.att, w.proj_w, w.proj_b, Epilogue::none));
    rows.push_back(linear_row("linear fc+gelu", b.fc, b.h, w.fc_w, w.fc_b, Epilogue::gelu));
    rows.push_back(linear_row("linear fc2", b.y, b.fc, w.fc2_w, w.fc2_b, Epilogue::none));
    rows.push_back(linear_row("linear lm_head", b.logits, b.h, m.wte, Tensor(), Epilogue::none));
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
    rows.push_back(
        measure("attention_decode", str("B=1 at position ", T), 4.0 * (T + 1) * C * 1e-9, repeats, device, s, [&] {
          attention_decode(b.att.slice(0, 0, 1), b.qkv.slice(0, 0, 1), w.k_cache, w.v_cache,
                           b.positions.slice(0, T, T + 1), static_cast<int>(NH), b.workspace, s);
        }));
    const Tensor last_logits = b.logits.slice(0, 0, 1);
    rows.push_back(measure("sample greedy", str("V=", kVocab), 0, repeats, device, s,
                           [&] { sample(b.sampled, last_logits, SamplingParams{}, 1, 0, b.sample_workspace, s); }));
    rows.push_back(measure("sample T=0.8 k=50 p=0.95", str("V=", kVocab), 0, repeats, device, s, [&] {
      sample(b.sampled, last_logits, {.temperature = 0.8f, .top_k = 50, .top_p = 0.95f}, 1, 0, b.sample_workspace, s);
    }));
  }
  const double params = static_cast<double>(size->L) * 12 * C * C + static_cast<double>(kVocab) * C;
  rows.push_back(measure("prefill", str(size->name, ", ", T, " tokens"), 2.0 * params * T * 1e-9, repeats, device, s,
                         [&] { forward(m, b, T, 0, matmul, s); }));
  rows.push_back(measure("decode", str(size->name, ", 1 token at ", T), 2.0 * params * 1e-9, repeats, device, s, [&] {
    Buffers one = b;
    one.tokens = b.tokens.slice(0, T, T + 1);
    forward(m, one, 1, T, matmul, s);
  }));

  const AllocatorStats stats = device_allocator(device).stats();
  const int64_t peak = stats.allocated_bytes[all_pools].peak;
  if (args.json) {
    JsonWriter j;
    j.begin_object().key("device").value(device.to_string()).key("dtype").value(dtype_name(dtype));
    j.key("size").value(size->name).key("tokens").value(T).key("peak_allocated_bytes").value(peak);
    j.key("gemm_fallbacks").value(kernels::gemm_fallback_count());
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
  std::printf("%s, %s, %s, %lld tokens, median of %d runs\n", device_properties(device).name.c_str(), dtype_name(dtype),
              size->name, static_cast<long long>(T), repeats);
  std::printf("%-26s %-30s %12s %12s\n", "kernel", "shape", "median ms", "GFLOP/s");
  for (const Row& r : rows) {
    if (r.gflop > 0)
      std::printf("%-26s %-30s %12.3f %12.1f\n", r.name.c_str(), r.shape.c_str(), r.median_ms,
                  r.gflop / r.median_ms * 1e3);
    else
      std::printf("%-26s %-30s %12.3f %12s\n", r.name.c_str(), r.shape.c_str(), r.median_ms, "");
  }
  const double prefill_ms = rows[rows.size() - 2].median_ms, decode_ms = rows.back().median_ms;
  std::printf("prefill %.1f tokens/s, decode %.2f ms/token; allocator peak %s\n",
              static_cast<double>(T) / prefill_ms * 1e3, decode_ms, format_bytes(static_cast<double>(peak)).c_str());
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
      app.add_option("--dtype", args->dtype, "f32, bf16 or f16 (default f32; the CPU runs f32)")
          ->type_name("T")
          ->check(one_of({"f32", "bf16", "f16"}));
      app.add_option("--size", args->size, "gpt2-small, gpt2-medium, gpt2-large or gpt2-xl (default gpt2-small)")
          ->type_name("NAME")
          ->check(one_of({"gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl"}));
      app.add_option("--tokens", args->tokens, "prompt length of the prefill rows (default 128)")
          ->type_name("T")
          ->check(integer_in(2, kContext - 1));
      app.add_option("--repeats", args->repeats, "timed runs per row; the median is shown (default 10)")
          ->type_name("N")
          ->check(integer_in(1, 100000));
      app.add_flag("--tf32", args->tf32, "let f32 products on the GPU use TF32");
      app.add_flag("--chain", args->chain, "only the prefill and decode rows");
      app.add_flag("--json", args->json, "print JSON instead of a table");
      return [args] { return run_kernel_bench(*args); };
    },
    "Weights are random: the timings are those of the kernels, not of a checkpoint's load."};

}  // namespace pthrun::cli
