// f16/bf16 <-> f32 against independent references: exact decoding by formula, and
// round-to-nearest-even by searching the sorted list of every representable value.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ios>
#include <random>
#include <vector>

#include "runtime/dtype.h"
#include "runtime/half.h"

using namespace pthrun;

namespace {

double f16_by_formula(uint16_t h) {
  const int sign = h >> 15 ? -1 : 1;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  if (exponent == 0x1f) return mantissa ? NAN : sign * INFINITY;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

// The nearest representable value, ties to the even bit pattern; `values` holds every finite
// non-negative value with its pattern, plus the first power of two past the largest finite
// value standing for infinity (rounding goes there exactly when it overflows).
struct Rounder {
  std::vector<std::pair<double, uint16_t>> values;
  uint16_t round(float x) const {
    const double a = std::fabs(static_cast<double>(x));
    const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    auto hi = std::lower_bound(values.begin(), values.end(), std::make_pair(a, uint16_t(0)));
    if (hi == values.end()) return sign | values.back().second;  // beyond: infinity
    if (hi->first == a || hi == values.begin()) return sign | hi->second;
    auto lo = hi - 1;
    const double below = a - lo->first, above = hi->first - a;
    if (below < above) return sign | lo->second;
    if (above < below) return sign | hi->second;
    return sign | ((lo->second & 1) ? hi->second : lo->second);
  }
};

Rounder f16_rounder() {
  Rounder r;
  for (uint32_t h = 0; h < 0x7c00; ++h) r.values.push_back({f16_by_formula(uint16_t(h)), uint16_t(h)});
  r.values.push_back({65536.0, 0x7c00});
  return r;
}

Rounder bf16_rounder() {
  Rounder r;
  for (uint32_t b = 0; b < 0x7f80; ++b) {
    uint32_t bits = b << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    r.values.push_back({f, uint16_t(b)});
  }
  r.values.push_back({std::ldexp(1.0, 128), 0x7f80});
  return r;
}

// Random float bit patterns plus the exact midpoints between neighbouring values.
std::vector<float> probe_floats(const Rounder& rounder) {
  std::vector<float> out;
  std::mt19937 rng(7);
  for (int i = 0; i < 1000000; ++i) {
    uint32_t bits = rng();
    float f;
    std::memcpy(&f, &bits, 4);
    if (!std::isnan(f)) out.push_back(f);
  }
  for (std::size_t i = 1; i < rounder.values.size(); ++i) {
    double mid = (rounder.values[i - 1].first + rounder.values[i].first) / 2;
    if (static_cast<double>(static_cast<float>(mid)) == mid) {
      out.push_back(static_cast<float>(mid));
      out.push_back(-static_cast<float>(mid));
    }
  }
  return out;
}

}  // namespace

TEST_CASE("f16 -> f32 decodes all 65,536 patterns exactly; f32 -> f16 round-trips them") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(uint16_t(h));
    const double expected = f16_by_formula(uint16_t(h));
    if (std::isnan(expected)) {
      REQUIRE(std::isnan(f));
      REQUIRE(std::signbit(f) == bool(h & 0x8000));
      const uint16_t back = f32_to_f16(f);
      REQUIRE((back & 0x7c00) == 0x7c00);
      REQUIRE((back & 0x3ff) != 0);  // still a NaN
      REQUIRE((back & 0x8000) == (h & 0x8000));
      REQUIRE((back | 0x200) == (h | 0x200));  // payload kept, quiet bit set
    } else {
      REQUIRE(static_cast<double>(f) == expected);
      REQUIRE(std::signbit(f) == bool(h & 0x8000));
      REQUIRE(f32_to_f16(f) == h);
    }
  }
}

TEST_CASE("bf16 -> f32 and back for all 65,536 patterns") {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_to_f32(uint16_t(b));
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    REQUIRE(bits == b << 16);
    if (std::isnan(f)) REQUIRE((f32_to_bf16(f) | 0x40) == (b | 0x40));
    else REQUIRE(f32_to_bf16(f) == b);
  }
}

TEST_CASE("f32 -> f16 rounds to nearest even, as an exhaustive search says") {
  const Rounder rounder = f16_rounder();
  for (float x : probe_floats(rounder)) {
    const uint16_t got = f32_to_f16(x), expected = rounder.round(x);
    if (got != expected) FAIL_CHECK("x = ", x, ": got 0x", std::hex, got, ", expected 0x", expected);
  }
  CHECK(f32_to_f16(65504.0f) == 0x7bff);
  CHECK(f32_to_f16(65519.996f) == 0x7bff);
  CHECK(f32_to_f16(65520.0f) == 0x7c00);  // the tie goes to even: infinity
  CHECK(f32_to_f16(-INFINITY) == 0xfc00);
  CHECK(f32_to_f16(-0.0f) == 0x8000);
  CHECK(f32_to_f16(std::ldexp(1.0f, -25)) == 0x0000);  // half the smallest subnormal: tie to 0
  CHECK(f32_to_f16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 0x0001);
#ifdef __FLT16_MAX__
  // The compiler's own conversion as a second opinion.
  std::mt19937 rng(3);
  for (int i = 0; i < 200000; ++i) {
    uint32_t bits = rng();
    float x;
    std::memcpy(&x, &bits, 4);
    if (std::isnan(x)) continue;
    _Float16 h = static_cast<_Float16>(x);
    uint16_t expected;
    std::memcpy(&expected, &h, 2);
    REQUIRE(f32_to_f16(x) == expected);
  }
#endif
}

TEST_CASE("f32 -> bf16 rounds to nearest even, as an exhaustive search says") {
  const Rounder rounder = bf16_rounder();
  for (float x : probe_floats(rounder)) {
    const uint16_t got = f32_to_bf16(x), expected = rounder.round(x);
    if (got != expected) FAIL_CHECK("x = ", x, ": got 0x", std::hex, got, ", expected 0x", expected);
  }
  CHECK(f32_to_bf16(std::numeric_limits<float>::max()) == 0x7f80);  // past the last tie
  CHECK(f32_to_bf16(NAN) == 0x7fc0);
}

TEST_CASE("dtype names and sizes follow PyTorch") {
  CHECK(std::string(dtype_name(DType::bf16)) == "bfloat16");
  CHECK(std::string(dtype_name(DType::boolean)) == "bool");
  CHECK(itemsize(DType::f64) == 8);
  CHECK(itemsize(DType::boolean) == 1);
  CHECK(parse_dtype("fp16") == DType::f16);
  CHECK(parse_dtype("int64") == DType::i64);
  CHECK(parse_dtype("bf16") == DType::bf16);
  CHECK_FALSE(parse_dtype("float8_e4m3fn").has_value());
  for (DType d : all_dtypes) CHECK(parse_dtype(dtype_name(d)) == d);
}
