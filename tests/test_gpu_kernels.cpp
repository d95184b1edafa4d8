// Every CUDA kernel against its CPU reference (kernels::cpu::, itself tested in double by
// test_kernels) on random inputs of awkward sizes, f32, bf16 and f16, GPU outputs poisoned
// with NaN before each call. Skipped (exit 77) without a CUDA device.
//
// Every element is checked against twin_tolerance (tests/kernel_test_util.h, which derives it):
// both sides compute in f32 in their own order and round once to the output dtype, so they may
// differ by f32 noise plus one unit in the last place of the output (f32 2e-5, f16 1.0e-3,
// bf16 7.8e-3 relative). Copies and single additions (embedding, KV append, the residual) must
// agree bit for bit, and so must sampled tokens: the sampler's arithmetic is exact by design.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <span>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cuda_gemm.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/sampling.h"
#include "runtime/cuda_graph.h"
#include "tests/kernel_test_util.h"

using namespace pthrun;
using namespace pthrun::kernels;
using namespace pthrun::test;

namespace {

const Device gpu = cuda_device(0);
const Stream gpu_stream{gpu};

Tolerance gpu_tolerance(DType dtype) { return twin_tolerance(dtype); }

Tensor host(const Tensor& t) { return t.defined() ? t.to(cpu_device) : Tensor(); }

// Random values made on the host (so both sides see the same numbers), then copied to the GPU.
Tensor gpu_random(const Shape& shape, DType dtype, std::mt19937& rng, float lo = -1, float hi = 1) {
  return random_tensor(shape, dtype, rng, lo, hi).to(gpu);
}

void check_same_bits(const Tensor& gpu_out, const Tensor& cpu_out, const std::string& what) {
  INFO(what);
  CHECK(gpu_out.to_doubles() == cpu_out.to_doubles());
}

}  // namespace

TEST_CASE("gpu embedding equals the CPU, bit for bit") {
  std::mt19937 rng(101);
  for (DType dtype : kFloatTypes) {
    for (int64_t C : {1, 13, 97, 768}) {
      const int64_t V = 50, T_max = 40;
      const std::vector<int32_t> tok = {0, 49, 7, 7, 13, 1, 22}, pos = {0, 39, 5, 6, 1, 2, 3};
      Tensor wte = gpu_random({V, C}, dtype, rng), wpe = gpu_random({T_max, C}, dtype, rng);
      Tensor out = poisoned({7, C}, dtype, gpu), ref = poisoned({7, C}, dtype);
      embedding(out, int_tensor(tok, gpu), int_tensor(pos, gpu), wte, wpe, gpu_stream);
      cpu::embedding(ref, int_tensor(tok), int_tensor(pos), host(wte), host(wpe), cpu_stream);
      check_same_bits(out, ref, str("embedding ", dtype_name(dtype), " C=", C));
    }
  }
}

TEST_CASE("gpu layernorm and residual_layernorm equal the CPU") {
  std::mt19937 rng(102);
  for (DType dtype : kFloatTypes) {
    for (int64_t C : {1, 7, 33, 768, 1600}) {
      for (int64_t N : {1, 5, 64}) {
        Tensor x = gpu_random({N, C}, dtype, rng, -3, 3), w = gpu_random({C}, dtype, rng),
               b = gpu_random({C}, dtype, rng);
        Tensor out = poisoned({N, C}, dtype, gpu), ref = poisoned({N, C}, dtype);
        layernorm(out, x, w, b, 1e-5f, gpu_stream);
        cpu::layernorm(ref, host(x), host(w), host(b), 1e-5f, cpu_stream);
        check_close(out, ref.to_doubles(), gpu_tolerance(dtype), str("layernorm ", dtype_name(dtype), " ", N, "x", C));

        Tensor delta = gpu_random({N, C}, dtype, rng);
        Tensor residual_cpu = host(x);
        residual_layernorm(x, out, delta, w, b, 1e-5f, gpu_stream);
        cpu::residual_layernorm(residual_cpu, ref, host(delta), host(w), host(b), 1e-5f, cpu_stream);
        check_same_bits(x, residual_cpu, str("residual ", dtype_name(dtype), " ", N, "x", C));
        check_close(out, ref.to_doubles(), gpu_tolerance(dtype),
                    str("residual_layernorm ", dtype_name(dtype), " ", N, "x", C));
      }
    }
  }
}

TEST_CASE("gpu linear equals the CPU: both layouts, bias, GELU epilogue, f32 or same-dtype output") {
  std::mt19937 rng(104);
  for (DType dtype : kFloatTypes) {
    for (DType out_dtype : {dtype, DType::f32}) {
      for (WeightLayout layout : {WeightLayout::out_in, WeightLayout::in_out}) {
        for (auto [N, I, O] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1},
                               {1, 768, 2304},
                               {3, 5, 7},
                               {17, 96, 100},
                               {64, 768, 3072},
                               {5, 3072, 768}}) {
          for (int mode = 0; mode < 4; ++mode) {  // no bias; bias; bias + GELU; bias + exact GELU
            const bool out_in = layout == WeightLayout::out_in;
            Tensor x = gpu_random({N, I}, dtype, rng);
            Tensor w = gpu_random(out_in ? Shape{O, I} : Shape{I, O}, dtype, rng, -0.1f, 0.1f);
            Tensor b = mode > 0 ? gpu_random({O}, dtype, rng) : Tensor();
            const Epilogue epilogue = mode == 2 ? Epilogue::gelu : mode == 3 ? Epilogue::gelu_erf : Epilogue::none;
            Tensor out = poisoned({N, O}, out_dtype, gpu), ref = poisoned({N, O}, out_dtype);
            linear(out, x, w, layout, b, epilogue, {}, gpu_stream);
            cpu::linear(ref, host(x), host(w), layout, host(b), epilogue, {}, cpu_stream);
            Tolerance tol = gpu_tolerance(out_dtype);
            // A 16-bit output gets cuBLASLt's fused GELU, whose tanh NVIDIA does not document. If
            // it is the hardware's tanh.approx.f32 (relative error below 2^-10.987 by the PTX
            // manual), gelu(v) = v/2 (1 + tanh u) is off by up to |v| 2^-12; |v| < 4 here.
            if (mode == 2 && out_dtype != DType::f32) tol.atol += 4 * std::ldexp(1.0, -12);
            check_close(out, ref.to_doubles(), tol,
                        str("linear ", dtype_name(dtype), "->", dtype_name(out_dtype), out_in ? " out_in " : " in_out ",
                            N, "x", I, "x", O, " mode ", mode));
          }
        }
      }
    }
  }
}

TEST_CASE("gpu linear refuses the CPU's reduced-precision weights with one line") {
  std::mt19937 rng(106);
  Tensor x = gpu_random({2, 32}, DType::f32, rng), out = poisoned({2, 4}, DType::f32, gpu);
  const LinearWeight bf16_weight{gpu_random({4, 32}, DType::bf16, rng), WeightLayout::out_in, {}, 0};
  CHECK_THROWS_WITH(linear(out, x, bf16_weight, Tensor(), Epilogue::none, {}, gpu_stream),
                    "linear: weights of dtype bfloat16 with activations of dtype float32 run on the CPU only; on "
                    "cuda:0 weights and activations share one dtype");
  const LinearWeight q = quantize_int8({Tensor::zeros({4, 32}, DType::f32), WeightLayout::out_in, {}, 0}, 16);
  const LinearWeight q_gpu{q.values.to(gpu), WeightLayout::out_in, q.scales.to(gpu), 16};
  CHECK_THROWS_WITH(linear(out, x, q_gpu, Tensor(), Epilogue::none, {}, gpu_stream),
                    "linear: weights of dtype int8 with activations of dtype float32 run on the CPU only; on "
                    "cuda:0 weights and activations share one dtype");
}

TEST_CASE("gpu linear uses TF32 only when allowed") {
  std::mt19937 rng(105);
  Tensor x = gpu_random({64, 768}, DType::f32, rng), w = gpu_random({768, 768}, DType::f32, rng);
  Tensor ref = poisoned({64, 768}, DType::f32), out = poisoned({64, 768}, DType::f32, gpu);
  cpu::linear(ref, host(x), host(w), WeightLayout::out_in, Tensor(), Epilogue::none, {}, cpu_stream);
  // TF32 keeps 10 of the 23 stored mantissa bits: each operand moves by up to 2^-11 of itself, so
  // each product x_i w_i by up to 2^-10 of itself, and element (n, o) by up to
  // 2^-10 sum_i |x_i w_i|, plus f32's noise. That sum is |x| . |w|^T, computed here on the CPU.
  Tensor abs_x = host(x).clone(), abs_w = host(w).clone(), sums = Tensor::empty({64, 768}, DType::f32);
  for (Tensor t : {abs_x, abs_w})
    for (float& v : std::span<float>(t.data<float>(), static_cast<std::size_t>(t.numel()))) v = std::fabs(v);
  cpu::linear(sums, abs_x, abs_w, WeightLayout::out_in, Tensor(), Epilogue::none, {}, cpu_stream);
  const std::vector<double> ref_values = ref.to_doubles(), sum_values = sums.to_doubles();
  std::vector<double> bound(ref_values.size());
  for (std::size_t i = 0; i < bound.size(); ++i)
    bound[i] = std::ldexp(sum_values[i], -10) + gpu_tolerance(DType::f32).atol +
               gpu_tolerance(DType::f32).rtol * std::fabs(ref_values[i]);
  linear(out, x, w, WeightLayout::out_in, Tensor(), Epilogue::none, {.allow_tf32 = true}, gpu_stream);
  const std::vector<double> tf32 = out.to_doubles();
  check_within(tf32, ref_values, bound, "linear with TF32", out.shape());
  // ... and it is TF32: with random operands some element must be off by more than f32 allows.
  double worst = 0;
  for (std::size_t i = 0; i < tf32.size(); ++i) worst = std::max(worst, std::fabs(tf32[i] - ref_values[i]));
  CHECK(worst > 1e-3);
  linear(out, x, w, WeightLayout::out_in, Tensor(), Epilogue::none, {}, gpu_stream);
  check_close(out, ref_values, gpu_tolerance(DType::f32), "linear without TF32");
}

TEST_CASE("gpu kv_cache_append equals the CPU bit for bit") {
  std::mt19937 rng(106);
  for (DType dtype : kFloatTypes) {
    const int64_t B = 3, NH = 5, HS = 12, T_max = 9;
    const std::vector<int32_t> seq = {2, 0, 2, 1, 0}, pos = {0, 8, 3, 4, 0};
    Tensor k = gpu_random({B, NH, T_max, HS}, dtype, rng), v = gpu_random({B, NH, T_max, HS}, dtype, rng);
    Tensor k_ref = host(k), v_ref = host(v);
    Tensor qkv = gpu_random({5, 3 * NH * HS}, dtype, rng);
    kv_cache_append(k, v, qkv, int_tensor(seq, gpu), int_tensor(pos, gpu), static_cast<int>(NH), gpu_stream);
    cpu::kv_cache_append(k_ref, v_ref, host(qkv), int_tensor(seq), int_tensor(pos), static_cast<int>(NH), cpu_stream);
    check_same_bits(k, k_ref, str("k cache ", dtype_name(dtype)));
    check_same_bits(v, v_ref, str("v cache ", dtype_name(dtype)));
  }
}

TEST_CASE("gpu attention_prefill equals the CPU: head sizes up to 128, odd ones, long and short prompts") {
  std::mt19937 rng(107);
  struct Heads {
    int64_t NH, HS;
  };
  for (DType dtype : kFloatTypes) {
    for (Heads heads : {Heads{1, 1}, Heads{5, 12}, Heads{3, 13}, Heads{12, 64}, Heads{2, 100}, Heads{4, 128}}) {
      for (int64_t T : {1, 31, 33, 100}) {
        for (int64_t pos0 : {0, 7}) {
          const int64_t NH = heads.NH, HS = heads.HS, C = NH * HS, T_max = pos0 + T + 5;
          // The whole cache is random: positions past the prompt hold values no query may see.
          Tensor k = gpu_random({NH, T_max, HS}, dtype, rng, -2, 2), v = gpu_random({NH, T_max, HS}, dtype, rng);
          Tensor qkv = gpu_random({T, 3 * C}, dtype, rng, -2, 2);
          Tensor out = poisoned({T, C}, dtype, gpu), ref = poisoned({T, C}, dtype);
          attention_prefill(out, qkv, k, v, pos0, static_cast<int>(NH), gpu_stream);
          cpu::attention_prefill(ref, host(qkv), host(k), host(v), pos0, static_cast<int>(NH), cpu_stream);
          check_close(out, ref.to_doubles(), gpu_tolerance(dtype),
                      str("prefill ", dtype_name(dtype), " NH=", NH, " HS=", HS, " T=", T, " pos0=", pos0));
        }
      }
    }
  }
}

TEST_CASE("gpu attention_decode equals the CPU for every length 1 .. T_max and several split counts") {
  std::mt19937 rng(108);
  for (DType dtype : kFloatTypes) {
    // From 1 to 25 heads per sequence, batched or one sequence at a time: from the most splits
    // (64) down to a few.
    for (auto [NH, HS] : {std::pair<int64_t, int64_t>{1, 64}, {5, 12}, {12, 64}, {25, 128}, {3, 13}}) {
      for (int64_t T_max : {1, 45, 700}) {
        const int64_t C = NH * HS;
        // One sequence per length for short caches; a spread of lengths for the long one.
        std::vector<int32_t> positions;
        for (int64_t p = 0; p<T_max; p += T_max> 64 ? 97 : 1) positions.push_back(static_cast<int32_t>(p));
        positions.push_back(static_cast<int32_t>(T_max - 1));
        const int64_t B = static_cast<int64_t>(positions.size());
        Tensor k = gpu_random({B, NH, T_max, HS}, dtype, rng, -2, 2), v = gpu_random({B, NH, T_max, HS}, dtype, rng);
        Tensor qkv = gpu_random({B, 3 * C}, dtype, rng, -2, 2);
        const int64_t ws = attention_decode_workspace_elems(B, static_cast<int>(NH), T_max, HS);
        Tensor workspace = poisoned({ws}, DType::f32, gpu);
        Tensor ref = poisoned({B, C}, dtype);
        cpu::attention_decode(ref, host(qkv), host(k), host(v), int_tensor(positions), static_cast<int>(NH),
                              Tensor::empty({ws}, DType::f32), cpu_stream);
        const std::string what = str(dtype_name(dtype), " NH=", NH, " HS=", HS, " T_max=", T_max);

        Tensor out = poisoned({B, C}, dtype, gpu);
        attention_decode(out, qkv, k, v, int_tensor(positions, gpu), static_cast<int>(NH), workspace, gpu_stream);
        check_close(out, ref.to_doubles(), gpu_tolerance(dtype), "decode batched " + what);

        for (int64_t b = 0; b < B; b += std::max<int64_t>(1, B / 6)) {
          Tensor one = poisoned({1, C}, dtype, gpu);
          attention_decode(one, qkv.slice(0, b, b + 1), k.slice(0, b, b + 1), v.slice(0, b, b + 1),
                           int_tensor({positions[b]}, gpu), static_cast<int>(NH), workspace, gpu_stream);
          check_close(one, ref.slice(0, b, b + 1).to_doubles(), gpu_tolerance(dtype),
                      str("decode alone at ", positions[b], " ", what));
        }
      }
    }
  }
}

TEST_CASE("gpu sampling draws the CPU's tokens for the same logits and seed, ties included") {
  std::mt19937 rng(109);
  const std::vector<SamplingParams> settings = {
      {},  // greedy
      {.temperature = 1.0f},
      {.temperature = 0.8f, .top_k = 1},
      {.temperature = 0.8f, .top_k = 50},
      {.temperature = 1.2f, .top_p = 0.9f},
      {.temperature = 0.7f, .top_k = 40, .top_p = 0.5f},
      {.temperature = 1.5f, .top_p = 1e-6f},
      {.temperature = 3.0f, .top_k = 2000, .top_p = 0.95f},
  };
  for (int64_t V : {1, 7, 1000, 50257}) {
    for (bool coarse : {false, true}) {
      // Coarse logits (multiples of 1/4) make many ties, at the top-k and top-p cuts too.
      std::vector<float> values(static_cast<std::size_t>(4 * V));
      std::uniform_real_distribution<float> dist(-8, 8);
      for (float& x : values) x = coarse ? std::round(dist(rng) * 4) / 4 : dist(rng);
      Tensor logits_cpu = Tensor::from_vector(values, {4, V});
      Tensor logits = logits_cpu.to(gpu);
      Tensor workspace = Tensor::empty({sampling_workspace_elems(4, V)}, DType::f32, gpu);
      for (const SamplingParams& params : settings) {
        for (uint64_t step = 0; step < 6; ++step) {
          Tensor tokens = Tensor::empty({4}, DType::i32, gpu), ref = Tensor::empty({4}, DType::i32);
          tokens.fill_(-1);
          sample(tokens, logits, params, 7, step, workspace, gpu_stream);
          std::vector<RowSampling> rows;
          for (uint64_t row = 0; row < 4; ++row) rows.push_back({params, 7, step, row});
          cpu::sample(ref, logits_cpu, std::span(rows), Tensor::empty({sampling_workspace_elems(4, V)}, DType::f32), cpu_stream);
          INFO("V=", V, " coarse=", coarse, " T=", params.temperature, " k=", params.top_k, " p=", params.top_p,
               " step=", step);
          CHECK(tokens.to_doubles() == ref.to_doubles());
        }
      }
      // Every row its own parameters, seed, step and stream, in one launch.
      std::vector<RowSampling> rows;
      for (uint64_t row = 0; row < 4; ++row)
        rows.push_back({settings[(row * 3 + 1) % settings.size()], 100 + row, row * 5, 9 - row});
      Tensor tokens = Tensor::empty({4}, DType::i32, gpu), ref = Tensor::empty({4}, DType::i32);
      tokens.fill_(-1);
      sample(tokens, logits, std::span<const RowSampling>(rows), workspace, gpu_stream);
      cpu::sample(ref, logits_cpu, std::span(rows), Tensor::empty({sampling_workspace_elems(4, V)}, DType::f32), cpu_stream);
      INFO("V=", V, " coarse=", coarse, " rows with their own parameters");
      CHECK(tokens.to_doubles() == ref.to_doubles());
    }
  }
}

TEST_CASE("gpu attention_decode captured once in a CUDA graph is right for any later positions") {
  std::mt19937 rng(110);
  const int64_t B = 2, NH = 12, HS = 64, T_max = 300, C = NH * HS;
  Stream stream = Stream::create(gpu);
  Tensor k = gpu_random({B, NH, T_max, HS}, DType::bf16, rng), v = gpu_random({B, NH, T_max, HS}, DType::bf16, rng);
  Tensor qkv = gpu_random({B, 3 * C}, DType::bf16, rng);
  Tensor positions = int_tensor({0, 0}, gpu);
  Tensor workspace = Tensor::empty({attention_decode_workspace_elems(B, NH, T_max, HS)}, DType::f32, gpu);
  Tensor out = poisoned({B, C}, DType::bf16, gpu);
  attention_decode(out, qkv, k, v, positions, NH, workspace, stream);  // warm-up outside the capture
  stream.synchronize();

  CudaGraph graph;
  CHECK(graph.capture(stream, [&] { attention_decode(out, qkv, k, v, positions, NH, workspace, stream); }) == "");
  REQUIRE(graph.ready());

  for (const std::vector<int32_t>& pos : {std::vector<int32_t>{0, 1}, {17, 299}, {298, 5}, {150, 151}}) {
    positions.copy_from(int_tensor(pos));  // without a stream: finished before it returns
    out.fill_(std::nan(""));
    graph.replay(stream);
    stream.synchronize();
    Tensor ref = poisoned({B, C}, DType::bf16);
    cpu::attention_decode(ref, host(qkv), host(k), host(v), int_tensor(pos), NH,
                          Tensor::empty({attention_decode_workspace_elems(B, NH, T_max, HS)}, DType::f32), cpu_stream);
    check_close(out, ref.to_doubles(), gpu_tolerance(DType::bf16), str("graph replay at ", pos[0], ", ", pos[1]));
  }
}
