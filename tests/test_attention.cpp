// CPU attention kernels against an explicit softmax over the full score row in double, and
// the KV-cache append against the positions it was told. The caches are filled with random
// values everywhere, so a kernel reading past a sequence's last position gets a wrong answer.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cpu_isa.h"
#include "runtime/half.h"
#include "tests/kernel_test_util.h"

using namespace pthrun;
using namespace pthrun::kernels;
using namespace pthrun::test;

namespace {

// softmax(q . k_j / sqrt(HS), j < L) . v_j in double; k and v point at a head's first row.
std::vector<double> attend_ref(const double* q, const double* k, const double* v, int64_t L, int64_t HS) {
  std::vector<double> s(static_cast<std::size_t>(L));
  double max = -INFINITY, sum = 0;
  for (int64_t j = 0; j < L; ++j) {
    double dot = 0;
    for (int64_t c = 0; c < HS; ++c) dot += q[c] * k[j * HS + c];
    s[j] = dot / std::sqrt(static_cast<double>(HS));
    max = std::max(max, s[j]);
  }
  for (double& x : s) sum += (x = std::exp(x - max));
  std::vector<double> out(static_cast<std::size_t>(HS), 0.0);
  for (int64_t j = 0; j < L; ++j)
    for (int64_t c = 0; c < HS; ++c) out[c] += s[j] / sum * v[j * HS + c];
  return out;
}

struct Heads {
  int64_t NH, HS;
};
constexpr Heads kHeadShapes[] = {{1, 1}, {3, 13}, {5, 12}, {2, 64}};

// The activations' dtype and the cache's: each dtype with a cache of its own, and the 16-bit
// caches of f32 activations that CPU sessions of reduced-precision models keep.
struct Precision {
  DType activations, cache;
};
constexpr Precision kPrecisions[] = {{DType::f32, DType::f32},
                                     {DType::bf16, DType::bf16},
                                     {DType::f16, DType::f16},
                                     {DType::f32, DType::bf16},
                                     {DType::f32, DType::f16}};

std::string label(Precision p) { return str(dtype_name(p.activations), " with a ", dtype_name(p.cache), " cache"); }

}  // namespace

TEST_CASE("kv_cache_append: each row's k and v land where sequences and positions say, nothing else moves") {
  std::mt19937 rng(11);
  for (Precision p : kPrecisions) {
    CAPTURE(label(p));
    const int64_t B = 3, NH = 5, HS = 12, T_max = 7, C = NH * HS;
    const std::vector<int32_t> seq = {2, 0, 2, 1}, pos = {0, 6, 3, 4};
    const int64_t N = static_cast<int64_t>(seq.size());
    Tensor k = random_tensor({B, NH, T_max, HS}, p.cache, rng), v = random_tensor({B, NH, T_max, HS}, p.cache, rng);
    std::vector<double> k_expected = k.to_doubles(), v_expected = v.to_doubles();
    Tensor qkv = random_tensor({N, 3 * C}, p.activations, rng);
    // A 16-bit cache of f32 rows holds them rounded to nearest even (runtime/half.h).
    const std::vector<double> rows = qkv.to(p.cache).to_doubles();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < NH; ++h)
        for (int64_t c = 0; c < HS; ++c) {
          const int64_t slot = ((seq[n] * NH + h) * T_max + pos[n]) * HS + c;
          k_expected[slot] = rows[n * 3 * C + C + h * HS + c];
          v_expected[slot] = rows[n * 3 * C + 2 * C + h * HS + c];
        }
    kv_cache_append(k, v, qkv, int_tensor(seq), int_tensor(pos), static_cast<int>(NH), cpu_stream);
    CHECK(k.to_doubles() == k_expected);
    CHECK(v.to_doubles() == v_expected);
  }
  Tensor k = Tensor::zeros({1, 1, 2, 1}, DType::f32), v = Tensor::zeros({1, 1, 2, 1}, DType::f32);
  Tensor qkv = Tensor::zeros({1, 3}, DType::f32);
  CHECK_THROWS_WITH(kv_cache_append(k, v, qkv, int_tensor({1}), int_tensor({0}), 1, cpu_stream),
                    "kv_cache_append: sequence 1 at row 0 is outside the cache's 1 sequences");
  CHECK_THROWS_WITH(kv_cache_append(k, v, qkv, int_tensor({0}), int_tensor({2}), 1, cpu_stream),
                    "kv_cache_append: position 2 at row 0 is outside the cache's 2 positions");
  CHECK_THROWS_WITH(kv_cache_append(k, v, qkv, int_tensor({0}), int_tensor({0}), 2, cpu_stream),
                    "kv_cache_append: the cache has 1 heads, but num_heads is 2");
}

TEST_CASE("kv_cache_append: an f16 cache of f32 rows holds runtime/half.h's rounding, bit for bit, every level") {
  // Values the rounding can get wrong: ties to even both ways, the largest finite f16 and the
  // first value that rounds past it, subnormals and below, signed zeros, infinities and NaNs;
  // then random ones. 37 of them per head: vectors of 16 and 8 and a scalar tail.
  const float max_f16 = 65504.0f;
  std::vector<float> values = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, -(1.0f + 0x1p-11f), max_f16,
                               std::nextafter(65520.0f, 0.0f), 65520.0f, 0x1p-24f, 0x1p-25f,
                               std::nextafter(0x1p-25f, 1.0f), 3 * 0x1p-26f, 0x1p-14f - 0x1p-25f, 0.0f, -0.0f,
                               INFINITY, -INFINITY, std::numeric_limits<float>::quiet_NaN(),
                               -std::numeric_limits<float>::quiet_NaN(), 1e-30f, -1e30f};
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> uniform(-3, 3);
  const int64_t NH = 2, HS = 37, C = NH * HS;
  while (static_cast<int64_t>(values.size()) < 2 * C) values.push_back(uniform(rng));
  std::vector<float> qkv_values(static_cast<std::size_t>(3 * C), 1.0f);
  std::copy(values.begin(), values.end(), qkv_values.begin() + C);
  Tensor qkv = Tensor::from_vector(qkv_values, {1, 3 * C});
  for (CpuIsa isa : {CpuIsa::baseline, CpuIsa::avx2, CpuIsa::avx512, CpuIsa::avx512_bf16}) {
    if (isa > detected_cpu_isa()) continue;
    limit_cpu_isa(isa);
    CAPTURE(cpu_isa_name(isa));
    Tensor k = Tensor::zeros({1, NH, 1, HS}, DType::f16), v = Tensor::zeros({1, NH, 1, HS}, DType::f16);
    kv_cache_append(k, v, qkv, int_tensor({0}), int_tensor({0}), static_cast<int>(NH), cpu_stream);
    const uint16_t* kb = static_cast<const uint16_t*>(k.data_ptr());
    const uint16_t* vb = static_cast<const uint16_t*>(v.data_ptr());
    for (int64_t i = 0; i < C; ++i) {
      CAPTURE(i);
      CHECK(kb[i] == f32_to_f16(values[static_cast<std::size_t>(i)]));
      CHECK(vb[i] == f32_to_f16(values[static_cast<std::size_t>(C + i)]));
    }
  }
  limit_cpu_isa(CpuIsa::avx512_bf16);
}

TEST_CASE("attention_prefill: causal softmax attention of T queries after pos0 cached positions") {
  std::mt19937 rng(12);
  for (Precision p : kPrecisions) {
    const DType dtype = p.activations;
    for (Heads heads : kHeadShapes) {
      for (int64_t T : {1, 6, 33}) {
        for (int64_t pos0 : {0, 3}) {
          const int64_t NH = heads.NH, HS = heads.HS, C = NH * HS, T_max = pos0 + T + 2;
          Tensor k = random_tensor({1, NH, T_max, HS}, p.cache, rng, -2, 2);
          Tensor v = random_tensor({1, NH, T_max, HS}, p.cache, rng);
          Tensor qkv = random_tensor({T, 3 * C}, dtype, rng, -2, 2);
          // As the model does it: append the new keys and values, then attend.
          std::vector<int32_t> seq(static_cast<std::size_t>(T), 0), pos;
          for (int64_t t = 0; t < T; ++t) pos.push_back(static_cast<int32_t>(pos0 + t));
          kv_cache_append(k, v, qkv, int_tensor(seq), int_tensor(pos), static_cast<int>(NH), cpu_stream);
          Tensor out = poisoned({T, C}, dtype);
          attention_prefill(out, qkv, k.select(0, 0), v.select(0, 0), pos0, static_cast<int>(NH), cpu_stream);

          const std::vector<double> dq = qkv.to_doubles(), dk = k.to_doubles(), dv = v.to_doubles();
          std::vector<double> ref;
          for (int64_t t = 0; t < T; ++t)
            for (int64_t h = 0; h < NH; ++h) {
              const std::vector<double> o =
                  attend_ref(&dq[t * 3 * C + h * HS], &dk[h * T_max * HS], &dv[h * T_max * HS], pos0 + t + 1, HS);
              ref.insert(ref.end(), o.begin(), o.end());
            }
          // ref is ordered (t, h, c), which is out's (t, h * HS + c). The cache's values are
          // exact in ref: a 16-bit cache costs f32 activations no tolerance here.
          check_close(out, ref, reference_tolerance(dtype),
                      str("prefill ", label(p), " NH=", NH, " HS=", HS, " T=", T, " pos0=", pos0));
        }
      }
    }
  }
}

TEST_CASE("attention_decode: one query per sequence over its own length; equals prefill's row; every level") {
  for (CpuIsa isa : {CpuIsa::baseline, CpuIsa::avx2, CpuIsa::avx512, CpuIsa::avx512_bf16}) {
    if (isa > detected_cpu_isa()) continue;
    limit_cpu_isa(isa);
    std::mt19937 rng(13);
    for (Precision p : kPrecisions) {
      const DType dtype = p.activations;
      for (Heads heads : kHeadShapes) {
        const int64_t NH = heads.NH, HS = heads.HS, C = NH * HS, B = 4, T_max = 37;
        const std::vector<int32_t> positions = {0, 36, 5, 17};  // 1, 37, 6 and 18 keys
        Tensor k = random_tensor({B, NH, T_max, HS}, p.cache, rng, -2, 2);
        Tensor v = random_tensor({B, NH, T_max, HS}, p.cache, rng);
        Tensor qkv = random_tensor({B, 3 * C}, dtype, rng, -2, 2);
        Tensor workspace =
            Tensor::empty({attention_decode_workspace_elems(B, static_cast<int>(NH), T_max, HS)}, DType::f32);
        Tensor out = poisoned({B, C}, dtype);
        attention_decode(out, qkv, k, v, int_tensor(positions), static_cast<int>(NH), workspace, cpu_stream);

        const std::vector<double> dq = qkv.to_doubles(), dk = k.to_doubles(), dv = v.to_doubles();
        std::vector<double> ref;
        for (int64_t b = 0; b < B; ++b)
          for (int64_t h = 0; h < NH; ++h) {
            const int64_t head = (b * NH + h) * T_max * HS;
            const std::vector<double> o =
                attend_ref(&dq[b * 3 * C + h * HS], &dk[head], &dv[head], positions[b] + 1, HS);
            ref.insert(ref.end(), o.begin(), o.end());
          }
        check_close(out, ref, reference_tolerance(dtype),
                    str("decode ", cpu_isa_name(isa), " ", label(p), " NH=", NH, " HS=", HS));

        // The same query through prefill, as the last of its sequence's positions.
        for (int64_t b = 0; b < B; ++b) {
          Tensor row = poisoned({1, C}, dtype);
          attention_prefill(row, qkv.slice(0, b, b + 1), k.select(0, b), v.select(0, b), positions[b],
                            static_cast<int>(NH), cpu_stream);
          // The same sums, in another order (sgemm against the matrix-vector kernels).
          check_close(row, out.slice(0, b, b + 1).to_doubles(), twin_tolerance(dtype),
                      str("decode vs prefill ", label(p), " b=", b));
        }
      }
    }
  }
  limit_cpu_isa(CpuIsa::avx512_bf16);
}

TEST_CASE("attention: argument errors name what is wrong") {
  Tensor k = Tensor::zeros({2, 3, 8, 4}, DType::f32), v = Tensor::zeros({2, 3, 8, 4}, DType::f32);
  Tensor qkv = Tensor::zeros({2, 36}, DType::f32), out = Tensor::empty({2, 12}, DType::f32);
  Tensor small = Tensor::empty({1}, DType::f32);
  CHECK_THROWS_WITH(attention_decode(out, qkv, k, v, int_tensor({0, 1}), 3, small, cpu_stream),
                    doctest::Contains("attention_decode: workspace has 1 elements, expected at least"));
  CHECK_THROWS_WITH(
      attention_decode(out, qkv, k, v, int_tensor({0, 8}), 3,
                       Tensor::empty({attention_decode_workspace_elems(2, 3, 8, 4)}, DType::f32), cpu_stream),
      "attention_decode: position 8 of sequence 1 is outside the cache's 8 positions");
  CHECK_THROWS_WITH(attention_prefill(out, qkv, k.select(0, 0), v.select(0, 0), 7, 3, cpu_stream),
                    "attention_prefill: positions 7 .. 8 do not fit a cache of 8 positions");
  CHECK_THROWS_WITH(
      attention_prefill(out, Tensor::zeros({2, 30}, DType::f32), k.select(0, 0), v.select(0, 0), 0, 3, cpu_stream),
      "attention_prefill: qkv has shape [2, 30], expected (N, 36) for 3 heads of size 4");
  // A 16-bit cache is for f32 activations only, and k and v share it.
  const Tensor k16 = Tensor::zeros({2, 3, 8, 4}, DType::f16), qkv16 = Tensor::zeros({2, 36}, DType::bf16);
  CHECK_THROWS_WITH(kv_cache_append(k16, k16.clone(), qkv16, int_tensor({0, 1}), int_tensor({0, 0}), 3, cpu_stream),
                    "kv_cache_append: k_cache has dtype float16 for activations of dtype bfloat16, expected bfloat16");
  CHECK_THROWS_WITH(kv_cache_append(k16, v, qkv, int_tensor({0, 1}), int_tensor({0, 0}), 3, cpu_stream),
                    doctest::Contains("kv_cache_append: v_cache"));
  CHECK_THROWS_WITH(kv_cache_append(Tensor::zeros({2, 3, 8, 4}, DType::i32), v, qkv, int_tensor({0, 1}),
                                    int_tensor({0, 0}), 3, cpu_stream),
                    doctest::Contains("kv_cache_append: k_cache"));
}
