// The CPU linear layer with f32 activations and f32, bf16, f16 or int8 weights, at every
// instruction-set level this machine runs (kernels/cpu_isa.h), against a double-precision
// loop over the weights the kernels multiply by (the dequantized values). Also int8
// quantization: hand-derived groups, the streaming builder against the whole-tensor form,
// and the bad calls.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <random>
#include <tuple>
#include <vector>

#include "kernels/cpu_isa.h"
#include "kernels/linear_weight.h"
#include "kernels/matmul.h"
#include "tests/kernel_test_util.h"

using namespace pthrun;
using namespace pthrun::kernels;
using pthrun::test::check_close;
using pthrun::test::reference_tolerance;
using pthrun::test::Tolerance;
using pthrun::test::poisoned;
using pthrun::test::random_tensor;

namespace {

const Stream cpu_stream{cpu_device};
constexpr CpuIsa kLevels[] = {CpuIsa::baseline, CpuIsa::avx2, CpuIsa::avx512, CpuIsa::avx512_bf16};

// Sets the level for one scope, then gives back the machine's best.
struct IsaLimit {
  explicit IsaLimit(CpuIsa isa) { limit_cpu_isa(isa); }
  ~IsaLimit() { limit_cpu_isa(CpuIsa::avx512_bf16); }
};

double gelu_ref(double v) {
  return 0.5 * v * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (v + 0.044715 * v * v * v)));
}

// out (N, O) = x @ W + bias (then GELU) in double, W the dequantized weight in its layout.
std::vector<double> linear_ref(const Tensor& x, const LinearWeight& w, const Tensor& bias, bool gelu) {
  const std::vector<double> dx = x.to_doubles(), dw = dequantize(w).to_doubles();
  const int64_t N = x.size(0), I = x.size(1), O = w.out_features();
  const bool out_in = w.layout == WeightLayout::out_in;
  const std::vector<double> db = bias.defined() ? bias.to_doubles() : std::vector<double>(O, 0.0);
  std::vector<double> ref;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      double s = db[o];
      for (int64_t i = 0; i < I; ++i) s += dx[n * I + i] * (out_in ? dw[o * I + i] : dw[i * O + o]);
      ref.push_back(gelu ? gelu_ref(s) : s);
    }
  return ref;
}

// The bound on one output of a product whose terms carry a relative error of at most `term`:
// term * max over outputs of sum_i |x_i w_i|, on top of the f32 accumulation's allowance.
// AVX512_BF16's vdpbf16ps multiplies bf16 pairs exactly, and x enters as two bf16 halves,
// hi = bf16(x) and lo = bf16(x - hi): |x - hi - lo| <= 2^-9 |x - hi| <= 2^-18 |x|, so each term
// x_i w_i is off by at most 2^-18 |x_i w_i|. Every other path converts the weights to f32
// exactly and multiplies in f32 (term 0).
Tolerance product_tolerance(const Tensor& x, const LinearWeight& w, double term) {
  const std::vector<double> dx = x.to_doubles(), dw = dequantize(w).to_doubles();
  const int64_t N = x.size(0), I = x.size(1), O = w.out_features();
  const bool out_in = w.layout == WeightLayout::out_in;
  double worst = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      double s = 0;
      for (int64_t i = 0; i < I; ++i) s += std::fabs(dx[n * I + i] * (out_in ? dw[o * I + i] : dw[i * O + o]));
      worst = std::max(worst, s);
    }
  const Tolerance f32 = reference_tolerance(DType::f32);
  return {f32.atol + term * worst, f32.rtol};
}

double term_error(CpuIsa isa, DType weights) {
  return isa == CpuIsa::avx512_bf16 && weights == DType::bf16 ? std::ldexp(1.0, -18) : 0.0;
}

LinearWeight make_weight(DType dtype, WeightLayout layout, int64_t O, int64_t I, std::mt19937& rng) {
  if (dtype == DType::i8)
    return quantize_int8({random_tensor({O, I}, DType::f32, rng), WeightLayout::out_in, {}, 0}, 32);
  return {random_tensor(layout == WeightLayout::out_in ? Shape{O, I} : Shape{I, O}, dtype, rng), layout, {}, 0};
}

std::vector<CpuIsa> runnable_levels() {
  std::vector<CpuIsa> levels;
  for (CpuIsa isa : kLevels)
    if (isa <= detected_cpu_isa()) levels.push_back(isa);
  return levels;
}

}  // namespace

TEST_CASE("cpu isa: the limit picks the level, never above what the machine has") {
  MESSAGE(str("this machine: ", cpu_isa_name(detected_cpu_isa())));
  for (CpuIsa isa : kLevels) {
    IsaLimit limit(isa);
    CHECK(active_cpu_isa() == std::min(isa, detected_cpu_isa()));
  }
  CHECK(active_cpu_isa() == detected_cpu_isa());
  CHECK(parse_cpu_isa("avx2") == CpuIsa::avx2);
  CHECK(parse_cpu_isa("avx512_bf16") == CpuIsa::avx512_bf16);
  CHECK(!parse_cpu_isa("sse9"));
}

TEST_CASE("linear with f32 activations: every weight dtype, layout and level against a double loop") {
  // Shapes cover one row (decode), 2-4 rows (batched decode; 4 rows of 200 inputs streamed in
  // one pass), more rows (sgemm on widened panels), inputs that are not multiples of any vector
  // width, group or unroll, and int8's short last group.
  const std::tuple<int64_t, int64_t, int64_t> shapes[] = {{1, 1, 1},   {1, 17, 5},  {1, 64, 33},  {1, 100, 300},
                                                          {2, 31, 70}, {3, 65, 17}, {4, 96, 20},  {4, 200, 70},
                                                          {5, 47, 33}, {9, 130, 300}};
  for (CpuIsa isa : runnable_levels()) {
    IsaLimit limit(isa);
    std::mt19937 rng(11);
    for (DType dtype : {DType::f32, DType::bf16, DType::f16, DType::i8}) {
      for (WeightLayout layout : {WeightLayout::out_in, WeightLayout::in_out}) {
        if (dtype == DType::i8 && layout == WeightLayout::in_out) continue;
        for (auto [N, I, O] : shapes) {
          for (int mode = 0; mode < 3; ++mode) {  // no bias; bias; bias + GELU
            const LinearWeight w = make_weight(dtype, layout, O, I, rng);
            const Tensor x = random_tensor({N, I}, DType::f32, rng);
            const Tensor b = mode > 0 ? random_tensor({O}, DType::f32, rng) : Tensor();
            Tensor out = poisoned({N, O}, DType::f32);
            linear(out, x, w, b, mode == 2 ? Epilogue::gelu : Epilogue::none, {}, cpu_stream);
            check_close(
                out, linear_ref(x, w, b, mode == 2), product_tolerance(x, w, term_error(isa, dtype)),
                str("linear ", cpu_isa_name(isa), " ", dtype_name(dtype),
                    layout == WeightLayout::out_in ? " out_in " : " in_out ", N, "x", I, "x", O, " mode ", mode));
          }
        }
      }
    }
  }
}

namespace {

// Every row of 1 to 19 rows times an O x I weight, as a batch and alone: bit for bit equal.
void check_row_invariance(CpuIsa isa, DType dtype, WeightLayout layout, int64_t I, int64_t O, std::mt19937& rng) {
  const LinearWeight w = make_weight(dtype, layout, O, I, rng);
  const Tensor b = random_tensor({O}, DType::f32, rng);
  const Tensor x = random_tensor({19, I}, DType::f32, rng);
  for (int64_t N : {1, 2, 4, 5, 8, 19}) {
    CAPTURE(str(cpu_isa_name(isa), " ", dtype_name(dtype), layout == WeightLayout::out_in ? " out_in " : " in_out ", N,
                " rows, I=", I, " O=", O));
    Tensor batch = poisoned({N, O}, DType::f32);
    linear(batch, x.slice(0, 0, N), w, b, Epilogue::gelu, {.row_invariant = true}, cpu_stream);
    const std::vector<float> got = batch.to_floats();
    for (int64_t n = 0; n < N; ++n) {
      Tensor alone = poisoned({1, O}, DType::f32);
      linear(alone, x.slice(0, n, n + 1), w, b, Epilogue::gelu, {.row_invariant = true}, cpu_stream);
      const std::vector<float> want = alone.to_floats();
      int64_t differing = 0;
      for (int64_t o = 0; o < O; ++o) {
        REQUIRE(!std::isnan(want[o]));
        differing += std::memcmp(&got[n * O + o], &want[o], sizeof(float)) != 0;
      }
      CHECK_MESSAGE(differing == 0, "row ", n);
    }
  }
}

}  // namespace

TEST_CASE("row-invariant products: each row of a batch bit for bit as alone, every dtype, layout and level") {
  // Batched decode (MatmulOptions::row_invariant) must give every row exactly what it gets
  // alone, whatever the other rows: 1 to 19 rows, up to 4 streamed in one pass (4 on AVX2,
  // whose tiles take 3 rows of x), more in the tile's groups and the rest, in tiles of
  // weight rows and the odd row left over, in one slice of inputs (260) or several (2100, past
  // gemv_impl.h's slices of 1024, ending in a partial vector and single inputs). [in, out]
  // weights go in packed blocks of rows (several for every I here) and, at 4500 columns, in
  // several blocks of columns a thread, with columns left over past the last tile.
  for (CpuIsa isa : runnable_levels()) {
    IsaLimit limit(isa);
    std::mt19937 rng(5);
    for (DType dtype : {DType::f32, DType::bf16, DType::f16, DType::i8}) {
      for (WeightLayout layout : {WeightLayout::out_in, WeightLayout::in_out}) {
        if (dtype == DType::i8 && layout == WeightLayout::in_out) continue;
        for (const int64_t I : {260, 280, 2100}) check_row_invariance(isa, dtype, layout, I, 301, rng);
        check_row_invariance(isa, dtype, layout, 100, 4500, rng);
      }
    }
  }
}

TEST_CASE("linear with f32 activations: int8 groups of 16, 48 and 128 on rows with outliers") {
  for (CpuIsa isa : runnable_levels()) {
    IsaLimit limit(isa);
    std::mt19937 rng(12);
    for (int64_t group : {16, 48, 128}) {
      for (int64_t I : {16, 100, 257}) {
        Tensor w32 = random_tensor({40, I}, DType::f32, rng);
        w32.data<float>()[3 * I + I / 2] = 25.0f;  // one outlier: its group gets a coarse scale
        const LinearWeight w = quantize_int8({w32, WeightLayout::out_in, {}, 0}, group);
        for (int64_t N : {1, 3, 6}) {
          const Tensor x = random_tensor({N, I}, DType::f32, rng);
          Tensor out = poisoned({N, 40}, DType::f32);
          linear(out, x, w, Tensor(), Epilogue::none, {}, cpu_stream);
          check_close(out, linear_ref(x, w, Tensor(), false), product_tolerance(x, w, 0),
                      str("int8 ", cpu_isa_name(isa), " group ", group, " I=", I, " N=", N));
        }
      }
    }
  }
}

TEST_CASE("linear with f32 activations: the same bits at 1 and 2 threads") {
  std::mt19937 rng(13);
  const int threads = omp_get_max_threads();
  for (DType dtype : {DType::f32, DType::bf16, DType::f16, DType::i8}) {
    for (int64_t N : {1, 3, 8}) {
      const LinearWeight w = make_weight(dtype, WeightLayout::out_in, 700, 300, rng);
      const Tensor x = random_tensor({N, 300}, DType::f32, rng);
      Tensor one = poisoned({N, 700}, DType::f32), two = poisoned({N, 700}, DType::f32);
      omp_set_num_threads(1);
      linear(one, x, w, Tensor(), Epilogue::none, {}, cpu_stream);
      omp_set_num_threads(2);
      linear(two, x, w, Tensor(), Epilogue::none, {}, cpu_stream);
      CHECK(one.to_doubles() == two.to_doubles());
    }
  }
  omp_set_num_threads(threads);
}

TEST_CASE("quantize_int8: hand-derived groups") {
  // Group 16 of 0, 1, ..., 15 scaled by 0.5: max 7.5, scale 7.5 / 127; q = round(v * 127 / 7.5).
  // Second group: all zeros (scale 0, values 0). Third group (short, 3 inputs): -2, 1, 0.5.
  std::vector<float> row;
  for (int i = 0; i < 16; ++i) row.push_back(0.5f * static_cast<float>(i));
  for (int i = 0; i < 16; ++i) row.push_back(0.0f);
  for (float v : {-2.0f, 1.0f, 0.5f}) row.push_back(v);
  const LinearWeight q = quantize_int8({Tensor::from_vector(row, {1, 35}), WeightLayout::out_in, {}, 0}, 16);
  const float* scales = q.scales.data<float>();
  CHECK(scales[0] == 7.5f / 127);
  CHECK(scales[1] == 0.0f);
  CHECK(scales[2] == 2.0f / 127);
  const int8_t* v = q.values.data<int8_t>();
  CHECK(v[15] == 127);
  CHECK(v[1] == 8);   // 0.5 / (7.5 / 127) = 8.4667 -> 8
  CHECK(v[3] == 25);  // 1.5 * 127 / 7.5 = 25.4 -> 25
  CHECK(v[5] == 42);  // 2.5 * 127 / 7.5 = 42.333 -> 42
  CHECK(v[16] == 0);
  CHECK(v[32] == -127);
  CHECK(v[33] == 64);  // 1 * 127 / 2 = 63.5 -> 64 (ties to even)
  CHECK(v[34] == 32);  // 31.75 -> 32
  // Every element is within half a step of its group's scale.
  const std::vector<double> back = dequantize(q).to_doubles();
  for (std::size_t i = 0; i < row.size(); ++i) CHECK(std::fabs(back[i] - row[i]) <= 0.5 * scales[i / 16] + 1e-7);
}

TEST_CASE("Int8WeightBuilder: pieces of any size and either source layout give the whole-tensor result") {
  std::mt19937 rng(14);
  const int64_t O = 37, I = 83, group = 32;
  for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
    const Tensor w = random_tensor({O, I}, dtype, rng);  // out_in
    const LinearWeight whole = quantize_int8({w, WeightLayout::out_in, {}, 0}, group);
    const Tensor w_t = w.transpose(0, 1).contiguous();  // the same weight stored in_out
    for (WeightLayout layout : {WeightLayout::out_in, WeightLayout::in_out}) {
      const Tensor& source = layout == WeightLayout::out_in ? w : w_t;
      const LinearWeight q = empty_int8_weight(O, I, group);
      Int8WeightBuilder builder(q, dtype, layout);
      const auto* bytes = static_cast<const unsigned char*>(source.data_ptr());
      std::uniform_int_distribution<int64_t> piece(0, 29);  // odd sizes split elements
      for (int64_t at = 0, total = static_cast<int64_t>(source.nbytes()); at < total;) {
        const int64_t n = std::min(piece(rng), total - at);
        builder.append(bytes + at, n);
        at += n;
      }
      builder.finish();
      // It held one source row (out_in) or one group of source rows (in_out), no more.
      CHECK(builder.staging_capacity() == (layout == WeightLayout::out_in ? I : group * O));
      CHECK(q.values.to_doubles() == whole.values.to_doubles());
      CHECK(q.scales.to_doubles() == whole.scales.to_doubles());
    }
  }
}

TEST_CASE("Int8WeightBuilder and quantize_int8 refuse what int8 cannot hold, and sources of the wrong length") {
  Tensor w = Tensor::zeros({2, 16}, DType::f32);
  w.data<float>()[20] = NAN;
  CHECK_THROWS_WITH(quantize_int8({w, WeightLayout::out_in, {}, 0}, 16),
                    doctest::Contains("quantize_int8: element [1, 4] of the source is nan"));
  CHECK_THROWS_WITH(empty_int8_weight(2, 16, 24), "int8 weight: group 24, expected a positive multiple of 16");
  const LinearWeight q = empty_int8_weight(2, 16, 16);
  Int8WeightBuilder short_source(q, DType::f32, WeightLayout::out_in);
  const std::vector<float> values(33, 1.0f);
  short_source.append(values.data(), 31 * 4 + 2);
  CHECK_THROWS_WITH(short_source.finish(),
                    "quantize_int8: the source ended after 31 of its 32 elements (inside an element)");
  Int8WeightBuilder long_source(q, DType::f32, WeightLayout::out_in);
  CHECK_THROWS_WITH(long_source.append(values.data(), 33 * 4),
                    "quantize_int8: the source has more than its 32 elements");
  CHECK_THROWS_WITH(Int8WeightBuilder(q, DType::i32, WeightLayout::out_in),
                    "quantize_int8: the source has dtype int32, expected float32, bfloat16 or float16");
}

TEST_CASE("linear refuses mixed dtypes it does not run, with one line naming the argument") {
  const Tensor x = Tensor::zeros({2, 32}, DType::f32), out = Tensor::empty({2, 4}, DType::f32);
  const LinearWeight q = quantize_int8({Tensor::zeros({4, 32}, DType::f32), WeightLayout::out_in, {}, 0}, 16);
  CHECK_THROWS_WITH(linear(out, x.to(DType::bf16), q, Tensor(), Epilogue::none, {}, cpu_stream),
                    "linear: weight has dtype int8 and x bfloat16, expected both of one dtype, or x float32");
  CHECK_THROWS_WITH(
      linear(out, x, {q.values, WeightLayout::in_out, q.scales, 16}, Tensor(), Epilogue::none, {}, cpu_stream),
      "linear: weight has shape [4, 32], expected (32, O) for x of shape [2, 32] (layout in_out)");
  CHECK_THROWS_WITH(linear(out, x, {q.values.view({32, 4}), WeightLayout::in_out, q.scales, 16}, Tensor(),
                           Epilogue::none, {}, cpu_stream),
                    "linear: an int8 weight is stored (O, I) (layout out_in), not in_out");
  CHECK_THROWS_WITH(
      linear(out, x, {q.values, WeightLayout::out_in, q.scales, 8}, Tensor(), Epilogue::none, {}, cpu_stream),
      "linear: int8 group is 8, expected a positive multiple of 16");
  CHECK_THROWS_WITH(linear(out, x, {q.values, WeightLayout::out_in, q.scales.slice(1, 0, 1).contiguous(), 16}, Tensor(),
                           Epilogue::none, {}, cpu_stream),
                    "linear: scales has shape [4, 1], expected [4, 2]");
  CHECK_THROWS_WITH(
      linear(out, x, {q.values, WeightLayout::out_in, Tensor(), 16}, Tensor(), Epilogue::none, {}, cpu_stream),
      "linear: scales is undefined, expected a tensor");
  CHECK_THROWS_WITH(linear(out, x, {Tensor::zeros({4, 32}, DType::f32), WeightLayout::out_in, q.scales, 16}, Tensor(),
                           Epilogue::none, {}, cpu_stream),
                    "linear: scales given for a weight of dtype float32 (only int8 weights have scales)");
  CHECK_THROWS_WITH(linear(out.to(DType::bf16), x, q, Tensor(), Epilogue::none, {}, cpu_stream),
                    "linear: out has dtype bfloat16, expected float32");
  CHECK_THROWS_WITH(linear(out, x, q, Tensor(), Epilogue::none, {}, Stream(cuda_device(0))),
                    "linear: the stream is on cuda:0 but the output is on cpu");
}
