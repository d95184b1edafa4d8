// CPU kernels against references computed here in double precision: exp_poly against
// std::exp, embedding by lookup, LayerNorm against a two-pass mean/variance, GELU against its
// tanh formula, linear against a triple loop. Awkward sizes (1, odd, not multiples of 16/32),
// all three floating dtypes, outputs poisoned with NaN before each call.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <random>
#include <tuple>
#include <vector>

#include "kernels/embedding.h"
#include "kernels/exp_poly.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "tests/kernel_test_util.h"

using namespace pthrun;
using namespace pthrun::kernels;
using namespace pthrun::test;

namespace {

double gelu_ref(double v) {
  return 0.5 * v * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (v + 0.044715 * v * v * v)));
}

double gelu_erf_ref(double v) { return 0.5 * v * (1 + std::erf(v / std::numbers::sqrt2)); }

// Two-pass LayerNorm of each row of x (rows x C) in double.
std::vector<double> layernorm_ref(const std::vector<double>& x, const std::vector<double>& w,
                                  const std::vector<double>& b, int64_t C, double eps) {
  std::vector<double> out(x.size());
  for (std::size_t r = 0; r < x.size() / static_cast<std::size_t>(C); ++r) {
    const double* row = &x[r * C];
    double mean = 0, var = 0;
    for (int64_t c = 0; c < C; ++c) mean += row[c];
    mean /= static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c) var += (row[c] - mean) * (row[c] - mean);
    var /= static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c) out[r * C + c] = (row[c] - mean) / std::sqrt(var + eps) * w[c] + b[c];
  }
  return out;
}

}  // namespace

TEST_CASE("exp_poly: within 4e-7 of e^x over the clamped range, NaN passes through") {
  double worst = 0;
  for (double x = -87.0; x <= 88.0; x += 0.0137) {
    const float xf = static_cast<float>(x);
    const double rel = std::fabs(exp_poly(xf) - std::exp(static_cast<double>(xf))) / std::exp(static_cast<double>(xf));
    worst = std::max(worst, rel);
  }
  CHECK(worst < 4e-7);
  CHECK(exp_poly(0.0f) == 1.0f);
  CHECK(exp_poly(-1000.0f) == doctest::Approx(std::exp(-87.0)).epsilon(1e-6));
  CHECK(exp_poly(1000.0f) == doctest::Approx(std::exp(88.0)).epsilon(1e-6));
  CHECK(std::isnan(exp_poly(std::nanf(""))));
}

TEST_CASE("embedding: rows are wte[token] + wpe[position]") {
  std::mt19937 rng(1);
  for (DType dtype : kFloatTypes) {
    for (int64_t C : {1, 13, 97}) {
      const int64_t V = 11, T_max = 9;
      Tensor wte = random_tensor({V, C}, dtype, rng), wpe = random_tensor({T_max, C}, dtype, rng);
      const std::vector<int32_t> tok = {3, 0, 10, 3, 7, 1, 2}, pos = {0, 8, 4, 1, 2, 3, 5};
      const int64_t N = static_cast<int64_t>(tok.size());
      Tensor out = poisoned({N, C}, dtype);
      embedding(out, int_tensor(tok), int_tensor(pos), wte, wpe, cpu_stream);
      const std::vector<double> te = wte.to_doubles(), pe = wpe.to_doubles();
      std::vector<double> ref;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) ref.push_back(te[tok[n] * C + c] + pe[pos[n] * C + c]);
      check_close(out, ref, reference_tolerance(dtype), str("embedding ", dtype_name(dtype), " C=", C));
    }
  }
  Tensor wte = Tensor::zeros({4, 3}, DType::f32), wpe = Tensor::zeros({2, 3}, DType::f32);
  Tensor out = Tensor::empty({1, 3}, DType::f32);
  CHECK_THROWS_WITH(embedding(out, int_tensor({4}), int_tensor({0}), wte, wpe, cpu_stream),
                    "embedding: token 4 at row 0 is outside the vocabulary of 4");
  CHECK_THROWS_WITH(embedding(out, int_tensor({0}), int_tensor({2}), wte, wpe, cpu_stream),
                    "embedding: position 2 at row 0 is outside the context of 2");
}

TEST_CASE("layernorm: two-pass mean and biased variance per row, rows with a large mean") {
  std::mt19937 rng(2);
  for (DType dtype : kFloatTypes) {
    for (int64_t C : {1, 5, 33, 768}) {
      for (int64_t N : {1, 7}) {
        // An offset of 50 makes E[x^2] - E[x]^2 lose most digits in f32; two passes do not.
        Tensor x = random_tensor({N, C}, dtype, rng, 49, 51);
        Tensor w = random_tensor({C}, dtype, rng, 0.5, 1.5), b = random_tensor({C}, dtype, rng);
        Tensor out = poisoned({N, C}, dtype);
        layernorm(out, x, w, b, 1e-5f, cpu_stream);
        const std::vector<double> ref = layernorm_ref(x.to_doubles(), w.to_doubles(), b.to_doubles(), C, 1e-5);
        check_close(out, ref, reference_tolerance(dtype), str("layernorm ", dtype_name(dtype), " ", N, "x", C));
      }
    }
  }
}

TEST_CASE("layernorm in place equals layernorm out of place") {
  std::mt19937 rng(3);
  Tensor x = random_tensor({3, 37}, DType::f32, rng), w = random_tensor({37}, DType::f32, rng),
         b = random_tensor({37}, DType::f32, rng);
  Tensor out = poisoned({3, 37}, DType::f32);
  layernorm(out, x, w, b, 1e-5f, cpu_stream);
  layernorm(x, x, w, b, 1e-5f, cpu_stream);
  CHECK(x.to_doubles() == out.to_doubles());
}

TEST_CASE("residual_layernorm: the residual gains delta, out normalises the stored residual") {
  std::mt19937 rng(4);
  for (DType dtype : kFloatTypes) {
    for (int64_t C : {1, 31, 96}) {
      const int64_t N = 5;
      Tensor residual = random_tensor({N, C}, dtype, rng), delta = random_tensor({N, C}, dtype, rng);
      Tensor w = random_tensor({C}, dtype, rng), b = random_tensor({C}, dtype, rng);
      const std::vector<double> r0 = residual.to_doubles(), d0 = delta.to_doubles();
      Tensor out = poisoned({N, C}, dtype);
      residual_layernorm(residual, out, delta, w, b, 1e-5f, cpu_stream);
      std::vector<double> sum(r0.size());
      for (std::size_t i = 0; i < sum.size(); ++i) sum[i] = r0[i] + d0[i];
      check_close(residual, sum, reference_tolerance(dtype), str("residual ", dtype_name(dtype), " C=", C));
      // The LayerNorm reads the residual as stored (rounded to dtype).
      const std::vector<double> ref = layernorm_ref(residual.to_doubles(), w.to_doubles(), b.to_doubles(), C, 1e-5);
      check_close(out, ref, reference_tolerance(dtype), str("residual_layernorm ", dtype_name(dtype), " C=", C));
    }
  }
}

TEST_CASE("linear's GELU epilogue is the tanh GELU: hand-derived values through an identity weight") {
  // gelu(1) = 0.5 (1 + tanh(0.79788456 * 1.044715)) = 0.841192, gelu(-1) = 1 - 1.841192.
  Tensor x = Tensor::from_vector<float>({1.0f, 0.0f, -1.0f}, {1, 3});
  Tensor identity = Tensor::from_vector<float>({1, 0, 0, 0, 1, 0, 0, 0, 1}, {3, 3});
  Tensor out = poisoned({1, 3}, DType::f32);
  linear(out, x, identity, WeightLayout::out_in, Tensor(), Epilogue::gelu, {}, cpu_stream);
  const std::vector<double> v = out.to_doubles();
  CHECK(v[0] == doctest::Approx(0.8411919906).epsilon(1e-6));
  CHECK(v[1] == 0.0);
  CHECK(v[2] == doctest::Approx(-0.1588080094).epsilon(1e-6));
}

TEST_CASE("linear's exact GELU epilogue: hand-derived values through an identity weight") {
  // gelu_erf(x) = x Phi(x), Phi the standard normal CDF: Phi(1) = 0.8413447461, Phi(2) =
  // 0.9772498681, Phi(0.5) = 0.6914624613 (tables); Phi(-x) = 1 - Phi(x).
  Tensor x = Tensor::from_vector<float>({1.0f, 0.0f, -1.0f, 2.0f, 0.5f, -2.0f}, {2, 3});
  Tensor identity = Tensor::from_vector<float>({1, 0, 0, 0, 1, 0, 0, 0, 1}, {3, 3});
  for (WeightLayout layout : {WeightLayout::out_in, WeightLayout::in_out}) {
    Tensor out = poisoned({2, 3}, DType::f32);
    linear(out, x, identity, layout, Tensor(), Epilogue::gelu_erf, {}, cpu_stream);
    const std::vector<double> v = out.to_doubles();
    CHECK(v[0] == doctest::Approx(0.8413447461).epsilon(1e-6));
    CHECK(v[1] == 0.0);
    CHECK(v[2] == doctest::Approx(-0.1586552539).epsilon(1e-6));
    CHECK(v[3] == doctest::Approx(1.9544997362).epsilon(1e-6));
    CHECK(v[4] == doctest::Approx(0.3457312307).epsilon(1e-6));
    CHECK(v[5] == doctest::Approx(-0.0455002638).epsilon(1e-5));
  }
  // Many rows take the sgemm path, a few the matrix-vector one: both apply it.
  std::vector<float> many;
  for (int r = 0; r < 40; ++r) many.insert(many.end(), {1.0f, -1.0f, 2.0f});
  Tensor big = Tensor::from_vector<float>(many, {40, 3});
  Tensor out = poisoned({40, 3}, DType::f32);
  linear(out, big, identity, WeightLayout::out_in, Tensor(), Epilogue::gelu_erf, {}, cpu_stream);
  const std::vector<double> v = out.to_doubles();
  CHECK(v[117] == doctest::Approx(0.8413447461).epsilon(1e-6));
  CHECK(v[118] == doctest::Approx(-0.1586552539).epsilon(1e-6));
  CHECK(v[119] == doctest::Approx(1.9544997362).epsilon(1e-6));
}

TEST_CASE("linear: both weight layouts, bias and GELU, against a triple loop") {
  std::mt19937 rng(7);
  for (DType dtype : kFloatTypes) {
    for (DType out_dtype : {dtype, DType::f32}) {
      for (WeightLayout layout : {WeightLayout::out_in, WeightLayout::in_out}) {
        for (auto [N, I, O] :
             {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {1, 64, 100}, {3, 5, 7}, {17, 33, 50}, {5, 96, 300}}) {
          for (int mode = 0; mode < 4; ++mode) {  // no bias; bias; bias + GELU; bias + exact GELU
            const bool out_in = layout == WeightLayout::out_in;
            Tensor x = random_tensor({N, I}, dtype, rng);
            Tensor w = random_tensor(out_in ? Shape{O, I} : Shape{I, O}, dtype, rng);
            Tensor b = mode > 0 ? random_tensor({O}, dtype, rng) : Tensor();
            const Epilogue epilogue = mode == 2 ? Epilogue::gelu : mode == 3 ? Epilogue::gelu_erf : Epilogue::none;
            Tensor out = poisoned({N, O}, out_dtype);
            linear(out, x, w, layout, b, epilogue, {}, cpu_stream);
            const std::vector<double> dx = x.to_doubles(), dw = w.to_doubles();
            const std::vector<double> db = mode > 0 ? b.to_doubles() : std::vector<double>(O, 0.0);
            std::vector<double> ref;
            for (int64_t n = 0; n < N; ++n) {
              for (int64_t o = 0; o < O; ++o) {
                double s = db[o];
                for (int64_t i = 0; i < I; ++i) s += dx[n * I + i] * (out_in ? dw[o * I + i] : dw[i * O + o]);
                ref.push_back(mode == 2 ? gelu_ref(s) : mode == 3 ? gelu_erf_ref(s) : s);
              }
            }
            check_close(out, ref, reference_tolerance(out_dtype),
                        str("linear ", dtype_name(dtype), "->", dtype_name(out_dtype), out_in ? " out_in " : " in_out ",
                            N, "x", I, "x", O, " mode ", mode));
          }
        }
      }
    }
  }
}

TEST_CASE("kernels reject bad arguments with one line naming the argument") {
  Tensor x = Tensor::zeros({2, 4}, DType::f32), w = Tensor::zeros({4}, DType::f32), b = Tensor::zeros({4}, DType::f32);
  Tensor out = Tensor::empty({2, 4}, DType::f32);
  CHECK_THROWS_WITH(layernorm(out, x, Tensor::zeros({3}, DType::f32), b, 1e-5f, cpu_stream),
                    "layernorm: weight has shape [3], expected [4]");
  CHECK_THROWS_WITH(layernorm(out, x.to(DType::bf16), w, b, 1e-5f, cpu_stream),
                    "layernorm: x has dtype bfloat16, expected float32");
  CHECK_THROWS_WITH(layernorm(out, x.transpose(0, 1).contiguous().transpose(0, 1), w, b, 1e-5f, cpu_stream),
                    doctest::Contains("layernorm: x with shape [2, 4] and strides [1, 2] is not contiguous"));
  CHECK_THROWS_WITH(residual_layernorm(x, out, Tensor::zeros({2, 4}, DType::i32), w, b, 1e-5f, cpu_stream),
                    "residual_layernorm: delta has dtype int32, expected float32");
  CHECK_THROWS_WITH(
      linear(out, x, Tensor::zeros({4, 5}, DType::f32), WeightLayout::out_in, Tensor(), Epilogue::none, {}, cpu_stream),
      "linear: weight has shape [4, 5], expected (O, 4) for x of shape [2, 4] (layout out_in)");
  CHECK_THROWS_WITH(linear(out, x, Tensor::zeros({4, 4}, DType::f32), WeightLayout::in_out, Tensor(), Epilogue::none, {},
                           Stream(cuda_device(0))),
                    "linear: the stream is on cuda:0 but the output is on cpu");
  CHECK_THROWS_WITH(layernorm(out.slice(1, 0, 3), x.slice(1, 0, 3), w.slice(0, 0, 3), b.slice(0, 0, 3), 1e-5f,
                              cpu_stream),
                    doctest::Contains("is not contiguous"));
  CHECK_THROWS_WITH(layernorm(out.slice(0, 0, 1), out.view({8}).slice(0, 2, 6).view({1, 4}), w, b, 1e-5f, cpu_stream),
                    "layernorm: out partly overlaps x; they must be the same tensor or not overlap");
}
