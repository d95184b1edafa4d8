// A linear layer's weight as the matrix products read it: values stored in f32, bf16, f16 or
// int8, in one of two layouts, and for int8 one f32 scale per group of inputs of each output.
//
//   LinearWeight w{tensor, WeightLayout::in_out};          // as the checkpoint stores it
//   LinearWeight q = quantize_int8(w, 64);                 // int8 (O, I), scales (O, ceil(I / 64))
//   linear(out, x, q, bias, Epilogue::none, {}, stream);   // x, bias, out f32 (see matmul.h)
//
//   Int8WeightBuilder builder(q, DType::f32, WeightLayout::in_out);   // q allocated, (O, I)
//   builder.append(bytes, nbytes);   // the source's bytes in storage order, in any pieces
//   builder.finish();                // every element arrived; q holds the int8 weight
//
// int8 is symmetric, weight-only, per group of `group` consecutive inputs of one output
// channel: w[o, i] = values[o, i] * scales[o, i / group], values in [-127, 127], scale =
// max |w| over the group / 127 (0 for an all-zero group). Groups rather than one scale per
// output channel for two reasons: an outlier weight costs precision only to its own 64
// neighbours, and the scale of a group is known once `group` inputs have arrived, whichever
// layout the checkpoint uses: a streaming loader quantizes a [in, out] (Conv1D) weight
// holding `group` of its rows, never the whole f32 tensor (a per-channel scale would need all
// of it). An int8 weight is always stored (O, I): the products read each output's inputs
// contiguously. The group is a multiple of 16 (the vector width of the kernels); I need not
// be a multiple of it (the last group is shorter).
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/tensor.h"

namespace pthrun::kernels {

// out_in: (O, I), as nn.Linear stores it; in_out: (I, O), as Hugging Face's Conv1D does.
enum class WeightLayout { out_in, in_out };

struct LinearWeight {
  Tensor values;                               // (O, I) or (I, O) by layout; f32, bf16, f16 or i8
  WeightLayout layout = WeightLayout::out_in;  // i8: out_in only
  Tensor scales;                               // i8 only: (O, ceil(I / group)) f32
  int64_t group = 0;                           // i8 only: inputs per scale, a multiple of 16

  int64_t out_features() const;
  int64_t in_features() const;
  // Bytes a product reads: the values and the scales.
  int64_t nbytes() const;
};

// The groups per output channel of an int8 weight with I inputs.
int64_t int8_group_count(int64_t in_features, int64_t group);

// An int8 weight of O outputs and I inputs on the CPU: values (O, I) i8, scales f32, unset.
LinearWeight empty_int8_weight(int64_t out_features, int64_t in_features, int64_t group);

// The int8 form of a CPU weight of f32, bf16 or f16 values, in either layout.
LinearWeight quantize_int8(const LinearWeight& weight, int64_t group);

// The weight's values as f32 in its layout ((O, I) for int8): what the products multiply by.
Tensor dequantize(const LinearWeight& weight);

// Quantizes a source weight that arrives in pieces, in its storage order, into an int8 weight
// allocated beforehand (empty_int8_weight). It holds at most one group of source rows (in_out:
// `group` rows of O values) or one source row (out_in) as f32 at a time.
class Int8WeightBuilder {
 public:
  Int8WeightBuilder(const LinearWeight& destination, DType source_dtype, WeightLayout source_layout);
  // The next `nbytes` bytes of the source tensor (a multiple of nothing: pieces may split an
  // element).
  void append(const void* bytes, int64_t nbytes);
  // Throws unless exactly all of the source's elements have arrived.
  void finish();
  // f32 values held for the current group (for the memory tests).
  int64_t staging_capacity() const { return static_cast<int64_t>(staging_.capacity()); }

 private:
  void flush_rows();
  void take_element(float value);

  LinearWeight out_;
  DType source_dtype_;
  WeightLayout source_layout_;
  int64_t source_row_length_, source_rows_per_flush_, source_rows_total_;
  std::vector<float> staging_;     // source_rows_per_flush_ rows of the source, as f32
  int64_t elements_seen_ = 0;      // of the whole source
  int64_t rows_flushed_ = 0;       // source rows quantized so far
  unsigned char partial_[4] = {};  // bytes of an element split between pieces
  int partial_bytes_ = 0;
};

}  // namespace pthrun::kernels
