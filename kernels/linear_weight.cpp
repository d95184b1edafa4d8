// LinearWeight's sizes, and int8 quantization (see kernels/linear_weight.h): the streaming
// builder, the whole-tensor form built on it, and dequantization for references and checks.
#include "kernels/linear_weight.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/checked_math.h"
#include "runtime/error.h"
#include "runtime/half.h"

namespace pthrun::kernels {

namespace {

constexpr float kInt8Max = 127;

float element_to_f32(const unsigned char* bytes, DType dtype) {
  if (dtype == DType::f32) {
    float v;
    std::memcpy(&v, bytes, sizeof v);
    return v;
  }
  uint16_t bits;
  std::memcpy(&bits, bytes, sizeof bits);
  return dtype == DType::bf16 ? bf16_to_f32(bits) : f16_to_f32(bits);
}

}  // namespace

int64_t LinearWeight::out_features() const { return layout == WeightLayout::out_in ? values.size(0) : values.size(1); }

int64_t LinearWeight::in_features() const { return layout == WeightLayout::out_in ? values.size(1) : values.size(0); }

int64_t LinearWeight::nbytes() const {
  return static_cast<int64_t>(values.nbytes() + (scales.defined() ? scales.nbytes() : 0));
}

int64_t int8_group_count(int64_t in_features, int64_t group) { return ceil_div(in_features, group); }

LinearWeight empty_int8_weight(int64_t out_features, int64_t in_features, int64_t group) {
  PTHRUN_CHECK(group > 0 && group % 16 == 0, "int8 weight: group ", group, ", expected a positive multiple of 16");
  PTHRUN_CHECK(out_features >= 0 && in_features >= 0, "int8 weight: negative size (", out_features, ", ", in_features,
               ")");
  return {Tensor::empty({out_features, in_features}, DType::i8), WeightLayout::out_in,
          Tensor::empty({out_features, int8_group_count(in_features, group)}, DType::f32), group};
}

Int8WeightBuilder::Int8WeightBuilder(const LinearWeight& destination, DType source_dtype, WeightLayout source_layout)
    : out_(destination), source_dtype_(source_dtype), source_layout_(source_layout) {
  PTHRUN_CHECK(source_dtype == DType::f32 || source_dtype == DType::bf16 || source_dtype == DType::f16,
               "quantize_int8: the source has dtype ", dtype_name(source_dtype),
               ", expected float32, bfloat16 or float16");
  const Tensor& v = out_.values;
  PTHRUN_CHECK(v.defined() && v.dtype() == DType::i8 && v.dim() == 2 && v.is_contiguous() && v.device().is_cpu() &&
                   out_.layout == WeightLayout::out_in,
               "quantize_int8: the destination is not a contiguous (O, I) int8 tensor on the CPU (empty_int8_weight)");
  const int64_t O = v.size(0), I = v.size(1);
  const Shape scales_shape{O, int8_group_count(I, out_.group)};
  PTHRUN_CHECK(out_.group > 0 && out_.group % 16 == 0 && out_.scales.defined() && out_.scales.dtype() == DType::f32 &&
                   out_.scales.is_contiguous() && out_.scales.device().is_cpu() && out_.scales.shape() == scales_shape,
               "quantize_int8: the destination's scales do not match its values and group (empty_int8_weight)");
  const bool out_in = source_layout == WeightLayout::out_in;
  source_row_length_ = out_in ? I : O;
  source_rows_total_ = out_in ? O : I;
  source_rows_per_flush_ = out_in ? 1 : out_.group;
  staging_.reserve(static_cast<std::size_t>(std::min(source_rows_per_flush_, std::max<int64_t>(source_rows_total_, 1)) *
                                            source_row_length_));
}

void Int8WeightBuilder::append(const void* bytes, int64_t nbytes) {
  PTHRUN_CHECK(nbytes >= 0, "quantize_int8: negative piece of ", nbytes, " bytes");
  const auto* p = static_cast<const unsigned char*>(bytes);
  const int size = static_cast<int>(itemsize(source_dtype_));
  const int64_t total = source_rows_total_ * source_row_length_;
  while (nbytes > 0) {
    if (partial_bytes_ > 0 || nbytes < size) {  // an element split between pieces
      const int take = static_cast<int>(std::min<int64_t>(size - partial_bytes_, nbytes));
      std::memcpy(partial_ + partial_bytes_, p, static_cast<std::size_t>(take));
      partial_bytes_ += take, p += take, nbytes -= take;
      if (partial_bytes_ < size) break;
      partial_bytes_ = 0;
      PTHRUN_CHECK(elements_seen_ < total, "quantize_int8: the source has more than its ", total, " elements");
      take_element(element_to_f32(partial_, source_dtype_));
      continue;
    }
    PTHRUN_CHECK(elements_seen_ < total, "quantize_int8: the source has more than its ", total, " elements");
    take_element(element_to_f32(p, source_dtype_));
    p += size, nbytes -= size;
  }
}

void Int8WeightBuilder::take_element(float value) {
  if (!std::isfinite(value)) {
    const int64_t row = elements_seen_ / source_row_length_, column = elements_seen_ % source_row_length_;
    throw Error(str("quantize_int8: element [", row, ", ", column, "] of the source is ", value,
                    "; int8 weights hold finite values only"));
  }
  staging_.push_back(value);
  ++elements_seen_;
  const int64_t staged_rows = static_cast<int64_t>(staging_.size()) / source_row_length_;
  if (staged_rows == source_rows_per_flush_ || elements_seen_ == source_rows_total_ * source_row_length_) flush_rows();
}

void Int8WeightBuilder::flush_rows() {
  const int64_t I = out_.values.size(1), groups = out_.scales.size(1), G = out_.group;
  int8_t* q = out_.values.data<int8_t>();
  float* scales = out_.scales.data<float>();
  const int64_t rows = static_cast<int64_t>(staging_.size()) / source_row_length_;
  // values[o, i] for the staged elements: `at(o, k)` is the k-th staged input of output o.
  auto quantize = [&](int64_t o, int64_t i0, int64_t count, auto at) {
    float amax = 0;
    for (int64_t k = 0; k < count; ++k) amax = std::max(amax, std::fabs(at(k)));
    const float scale = amax / kInt8Max;
    scales[o * groups + i0 / G] = scale;
    for (int64_t k = 0; k < count; ++k) {
      const float r = scale > 0 ? std::nearbyint(at(k) / scale) : 0.0f;
      q[o * I + i0 + k] = static_cast<int8_t>(std::clamp(r, -kInt8Max, kInt8Max));
    }
  };
  if (source_layout_ == WeightLayout::out_in) {
    // One source row: every group of output `rows_flushed_`.
    const int64_t o = rows_flushed_;
    for (int64_t i0 = 0; i0 < I; i0 += G)
      quantize(o, i0, std::min(G, I - i0), [&](int64_t k) { return staging_[i0 + k]; });
  } else {
    // `rows` source rows = inputs i0 .. i0 + rows - 1, one group of every output.
    const int64_t i0 = rows_flushed_, O = source_row_length_;
    for (int64_t o = 0; o < O; ++o) quantize(o, i0, rows, [&](int64_t k) { return staging_[k * O + o]; });
  }
  rows_flushed_ += rows;
  staging_.clear();
}

void Int8WeightBuilder::finish() {
  const int64_t total = source_rows_total_ * source_row_length_;
  PTHRUN_CHECK(elements_seen_ == total && partial_bytes_ == 0, "quantize_int8: the source ended after ", elements_seen_,
               " of its ", total, " elements", partial_bytes_ ? " (inside an element)" : "");
}

LinearWeight quantize_int8(const LinearWeight& weight, int64_t group) {
  const Tensor& v = weight.values;
  PTHRUN_CHECK(v.defined() && v.dim() == 2 && v.is_contiguous() && v.device().is_cpu(),
               "quantize_int8: the weight is not a contiguous 2-D tensor on the CPU");
  LinearWeight q = empty_int8_weight(weight.out_features(), weight.in_features(), group);
  Int8WeightBuilder builder(q, v.dtype(), weight.layout);
  builder.append(v.data_ptr(), static_cast<int64_t>(v.nbytes()));
  builder.finish();
  return q;
}

Tensor dequantize(const LinearWeight& weight) {
  const Tensor& v = weight.values;
  if (v.dtype() != DType::i8) return v.to(DType::f32);
  const int64_t O = v.size(0), I = v.size(1), groups = weight.scales.size(1);
  Tensor out = Tensor::empty({O, I}, DType::f32);
  const int8_t* q = v.data<int8_t>();
  const float* scales = weight.scales.data<float>();
  float* o = out.data<float>();
  for (int64_t r = 0; r < O; ++r)
    for (int64_t i = 0; i < I; ++i) o[r * I + i] = q[r * I + i] * scales[r * groups + i / weight.group];
  return out;
}

}  // namespace pthrun::kernels
