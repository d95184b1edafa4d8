// Tensors: views that never copy, checked bounds, copies across dtypes, printing.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <vector>
#include <numeric>

#include "runtime/tensor.h"

using namespace pthrun;

namespace {

Tensor arange(int64_t n, DType dtype = DType::f32) {
  std::vector<double> values(static_cast<std::size_t>(n));
  std::iota(values.begin(), values.end(), 0.0);
  return Tensor::from_vector(values, {n}).to(dtype);
}

}  // namespace

TEST_CASE("construction, fill and read back") {
  Tensor z = Tensor::zeros({2, 3}, DType::f32);
  CHECK(z.to_doubles() == std::vector<double>(6, 0.0));
  CHECK(z.strides() == Strides{3, 1});
  z.fill_(2.5);
  CHECK(z.to_doubles() == std::vector<double>(6, 2.5));
  Tensor i = Tensor::from_vector(std::vector<int64_t>{1, -2, 3}, {3});
  CHECK(i.dtype() == DType::i64);
  CHECK(i.to_doubles() == std::vector<double>{1, -2, 3});
  CHECK(i.nbytes() == 24);
  Tensor scalar = Tensor::from_vector(std::vector<float>{7}, {});
  CHECK(scalar.dim() == 0);
  CHECK(scalar.numel() == 1);
  Tensor none = Tensor::empty({0, 5}, DType::f16);
  CHECK(none.numel() == 0);
  CHECK(none.is_contiguous());
  CHECK_THROWS_WITH(Tensor::from_vector(std::vector<float>{1, 2}, {3}), doctest::Contains("2 values for shape [3]"));
}

TEST_CASE("fill writes every element of a tensor, and of a strided view only the view's") {
  // Contiguous fills whose element has one repeated byte (0, -1) take a memset; the rest go
  // element by element: both must give the same values.
  Tensor f = arange(12).view({3, 4});
  f.fill_(0);
  CHECK(f.to_doubles() == std::vector<double>(12, 0.0));
  CHECK_FALSE(std::signbit(f.to_doubles()[5]));
  Tensor i = Tensor::from_vector(std::vector<int32_t>{5, 6, 7}, {3});
  i.fill_(-1);
  CHECK(i.to_doubles() == std::vector<double>{-1, -1, -1});
  Tensor b = arange(5, DType::bf16);
  b.fill_(1);
  CHECK(b.data<uint16_t>()[4] == 0x3f80);
  Tensor m = Tensor::zeros({3, 4}, DType::f32);
  m.fill_(1);
  m.slice(1, 1, 3).fill_(0);
  CHECK(m.to_doubles() == std::vector<double>{1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1});
  m.select(0, 2).fill_(-2);
  CHECK(m.to_doubles() == std::vector<double>{1, 0, 0, 1, 1, 0, 0, 1, -2, -2, -2, -2});
}

TEST_CASE("views share storage and never copy") {
  Tensor base = arange(12).view({3, 4});
  Tensor t = base.transpose(0, 1);
  CHECK(t.storage() == base.storage());
  CHECK(t.shape() == Shape{4, 3});
  CHECK(t.strides() == Strides{1, 4});
  CHECK_FALSE(t.is_contiguous());
  CHECK(t.to_doubles() == std::vector<double>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});

  Tensor column = base.select(1, 2);  // base[:, 2]
  CHECK(column.storage_offset() == 2);
  CHECK(column.strides() == Strides{4});
  CHECK(column.to_doubles() == std::vector<double>{2, 6, 10});

  Tensor rows = base.slice(0, 1, 3);
  CHECK(rows.storage_offset() == 4);
  CHECK(rows.is_contiguous());
  CHECK(rows.to_doubles() == std::vector<double>{4, 5, 6, 7, 8, 9, 10, 11});
  Tensor stepped = base.slice(1, 0, 4, 2);
  CHECK(stepped.to_doubles() == std::vector<double>{0, 2, 4, 6, 8, 10});
  CHECK(base.slice(1, -2, 4).to_doubles() == std::vector<double>{2, 3, 6, 7, 10, 11});

  Tensor flat = base.view({-1});
  CHECK(flat.shape() == Shape{12});
  CHECK(flat.storage() == base.storage());
  Tensor r = t.reshape({12});  // not contiguous: reshape copies
  CHECK(r.storage() != base.storage());
  CHECK(r.to_doubles()[1] == 4);

  // Writes through a view land in the base.
  column.fill_(-1);
  CHECK(base.to_doubles()[6] == -1);
}

TEST_CASE("views are checked against their storage") {
  Tensor base = arange(12);
  auto storage = base.storage();
  CHECK_NOTHROW(Tensor(storage, DType::f32, {3, 4}, {4, 1}, 0));
  CHECK_THROWS_WITH(Tensor(storage, DType::f32, {3, 4}, {4, 1}, 1),
                    doctest::Contains("reaches element 12 of a storage of 12 elements"));
  CHECK_THROWS_WITH(Tensor(storage, DType::f32, {2}, {-1}, 5), doctest::Contains("negative"));
  CHECK_NOTHROW(Tensor(storage, DType::f32, {0}, {1}, 12));
  CHECK_THROWS(Tensor(storage, DType::f32, {0}, {1}, 13));
  CHECK_THROWS_WITH(Tensor(storage, DType::f32, {2, 2}, {INT64_MAX, 1}, 0), doctest::Contains("overflows"));
  CHECK_THROWS_WITH(Tensor(storage, DType::f64, {7}, {1}, 0), doctest::Contains("storage of 6 elements"));
  CHECK_THROWS_WITH(Tensor::empty({int64_t(1) << 62, 16}, DType::f32), doctest::Contains("overflows"));
  CHECK_THROWS_WITH(base.slice(0, 3, 20), doctest::Contains("out of range"));
  CHECK_THROWS_WITH(base.view({5, -1}), doctest::Contains("does not fit"));
  CHECK_THROWS_WITH(base.view({3, 4}).transpose(0, 1).view({12}), doctest::Contains("contiguous"));
  CHECK_THROWS_WITH(base.select(3, 0), doctest::Contains("dimension 3 is out of range"));
}

TEST_CASE("copies convert between dtypes and gather strided views") {
  Tensor f = Tensor::from_vector(std::vector<float>{1.5f, -2.75f, 65504.0f, 1e-8f, NAN, INFINITY}, {6});
  CHECK(f.to(DType::f16).dtype() == DType::f16);
  std::vector<double> h = f.to(DType::f16).to_doubles();
  CHECK(h[0] == 1.5);
  CHECK(h[1] == -2.75);
  CHECK(h[2] == 65504.0);
  CHECK(h[3] == std::ldexp(1.0, -24) * 0);  // 1e-8 is below half the smallest f16 subnormal
  CHECK(std::isnan(h[4]));
  CHECK(std::isinf(h[5]));
  CHECK(f.to(DType::bf16).to_doubles()[1] == -2.75);

  Tensor ints = f.slice(0, 0, 3).to(DType::i32);
  CHECK(ints.to_doubles() == std::vector<double>{1, -2, 65504});
  CHECK(f.slice(0, 4, 6).to(DType::i8).to_doubles() == std::vector<double>{0, 127});  // NaN -> 0, saturates
  CHECK(f.to(DType::boolean).to_doubles() == std::vector<double>{1, 1, 1, 1, 1, 1});
  CHECK(Tensor::from_vector(std::vector<int64_t>{300, -1}, {2}).to(DType::u8).to_doubles() ==
        std::vector<double>{44, 255});  // integers wrap

  Tensor base = arange(12).view({3, 4});
  Tensor dst = Tensor::zeros({4, 3}, DType::f64);
  dst.copy_from(base.transpose(0, 1));
  CHECK(dst.to_doubles() == base.transpose(0, 1).to_doubles());
  Tensor strided_dst = Tensor::zeros({3, 4}, DType::f32);
  strided_dst.transpose(0, 1).copy_from(dst);
  CHECK(strided_dst.to_doubles() == base.to_doubles());
  CHECK_THROWS_WITH(dst.copy_from(base), doctest::Contains("copy from shape [3, 4] into shape [4, 3]"));
}

TEST_CASE("widening a signaling NaN quiets it and keeps its payload and sign, as the GPU does") {
  // The GPU's results for these patterns, as the first run on an H200 printed them.
  const std::vector<uint16_t> f16_bits = {0x7c01, 0xfdff, 0x7e00, 0x3c00};
  const std::vector<uint32_t> f16_widened = {0x7fc02000, 0xffffe000, 0x7fc00000, 0x3f800000};
  const std::vector<uint16_t> bf16_bits = {0x7f81, 0xffbf, 0x3f80};
  const std::vector<uint32_t> bf16_widened = {0x7fc10000, 0xffff0000, 0x3f800000};
  for (const auto& [bits, widened, dtype] : {std::tuple{f16_bits, f16_widened, DType::f16},
                                             std::tuple{bf16_bits, bf16_widened, DType::bf16}}) {
    const Tensor f = Tensor::from_host(bits.data(), {static_cast<int64_t>(bits.size())}, dtype).to(DType::f32);
    std::vector<uint32_t> got(bits.size());
    std::memcpy(got.data(), f.data_ptr(), got.size() * 4);
    CHECK(got == widened);
  }
}

TEST_CASE("typed access checks the dtype") {
  Tensor t = Tensor::zeros({2}, DType::bf16);
  CHECK_NOTHROW(t.data<uint16_t>());
  CHECK_THROWS_WITH(t.data<float>(), doctest::Contains("to a bfloat16 tensor"));
}

TEST_CASE("borrowed storage keeps its owner alive") {
  auto owner = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4});
  std::weak_ptr<std::vector<float>> watch = owner;
  Tensor t(Storage::borrow(owner->data(), 16, cpu_device, owner), DType::f32, {2, 2}, {2, 1}, 0);
  owner.reset();
  CHECK_FALSE(watch.expired());
  CHECK(t.to_doubles() == std::vector<double>{1, 2, 3, 4});
  CHECK(t.storage()->allocation() == nullptr);
  t = Tensor();
  CHECK(watch.expired());
}

TEST_CASE("printing") {
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2.5f, -3, 4, 5, 6}, {2, 3});
  CHECK(t.to_string() == "Tensor(float32, shape=[2, 3], cpu)\n[[1, 2.5, -3],\n [4, 5, 6]]");
  CHECK(Tensor::from_vector(std::vector<uint8_t>{1, 0}, {2}).to(DType::boolean).to_string() ==
        "Tensor(bool, shape=[2], cpu)\n[True, False]");
  CHECK(Tensor::from_vector(std::vector<float>{NAN}, {}).to_string() == "Tensor(float32, shape=[], cpu)\nnan");
  CHECK(arange(2000, DType::i64).to_string() ==
        "Tensor(int64, shape=[2000], cpu)\n[0, 1, 2, ..., 1997, 1998, 1999]");
  CHECK(Tensor().to_string() == "Tensor(undefined)");
}
