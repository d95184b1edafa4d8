// Precondition checks shared by the CPU references and the CUDA entries, so that both reject
// the same calls with the same message:
//
//   check_float("layernorm", "x", x, out.device());        // defined, contiguous, f32/bf16/f16
//   check_same("layernorm", "weight", weight, x.dtype());   // ... and of x's dtype
//   check_shape("layernorm", "weight", weight, {C});
//
// Every failure throws pthrun::Error "<op>: <argument> <what is wrong>, expected <what>".
#pragma once

#include <cstdint>

#include "runtime/device.h"
#include "runtime/dtype.h"
#include "runtime/shape.h"
#include "runtime/tensor.h"

namespace pthrun::kernels {

// Defined, on `device`, contiguous, of a floating dtype the kernels take (f32, bf16, f16).
void check_float(const char* op, const char* name, const Tensor& t, Device device);
// Defined, on `device`, contiguous, of exactly `dtype`.
void check_tensor(const char* op, const char* name, const Tensor& t, Device device, DType dtype);
void check_shape(const char* op, const char* name, const Tensor& t, const Shape& expected);
// At least one dimension; returns the last one (the row length).
int64_t check_rows(const char* op, const char* name, const Tensor& t);
// numel / size(-1): the number of rows of a tensor seen as (rows, size(-1)).
int64_t row_count(const Tensor& t);
// Whether the two tensors' bytes overlap.
bool overlaps(const Tensor& a, const Tensor& b);
// `out` and `in` are either the same bytes (an in-place call) or do not overlap at all.
void check_alias(const char* op, const char* out_name, const Tensor& out, const char* in_name, const Tensor& in);
// A count or size that must fit a 32-bit int (what the kernels index with).
void check_int32_range(const char* op, const char* what, int64_t value);

}  // namespace pthrun::kernels
