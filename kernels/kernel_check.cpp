#include "kernels/kernel_check.h"

#include <climits>
#include <cstdint>

#include "runtime/error.h"

namespace pthrun::kernels {

namespace {

void check_common(const char* op, const char* name, const Tensor& t, Device device) {
  PTHRUN_CHECK(t.defined(), op, ": ", name, " is undefined, expected a tensor");
  PTHRUN_CHECK(t.device() == device, op, ": ", name, " is on ", t.device().to_string(), ", expected ",
               device.to_string(), " (the output's device)");
  PTHRUN_CHECK(t.is_contiguous(), op, ": ", name, " with shape ", t.shape().to_string(), " and strides ",
               t.strides().to_string(), " is not contiguous");
}

}  // namespace

void check_float(const char* op, const char* name, const Tensor& t, Device device) {
  check_common(op, name, t, device);
  const DType d = t.dtype();
  PTHRUN_CHECK(d == DType::f32 || d == DType::bf16 || d == DType::f16, op, ": ", name, " has dtype ", dtype_name(d),
               ", expected float32, bfloat16 or float16");
}

void check_tensor(const char* op, const char* name, const Tensor& t, Device device, DType dtype) {
  check_common(op, name, t, device);
  PTHRUN_CHECK(t.dtype() == dtype, op, ": ", name, " has dtype ", dtype_name(t.dtype()), ", expected ",
               dtype_name(dtype));
}

void check_shape(const char* op, const char* name, const Tensor& t, const Shape& expected) {
  PTHRUN_CHECK(t.shape() == expected, op, ": ", name, " has shape ", t.shape().to_string(), ", expected ",
               expected.to_string());
}

int64_t check_rows(const char* op, const char* name, const Tensor& t) {
  PTHRUN_CHECK(t.dim() >= 1, op, ": ", name, " is a 0-d tensor, expected (rows, columns)");
  return t.size(-1);
}

int64_t row_count(const Tensor& t) {
  const int64_t columns = t.size(-1);
  return columns == 0 ? 0 : t.numel() / columns;
}

bool overlaps(const Tensor& a, const Tensor& b) {
  if (a.numel() == 0 || b.numel() == 0) return false;
  const auto a0 = reinterpret_cast<uintptr_t>(a.data_ptr());
  const auto b0 = reinterpret_cast<uintptr_t>(b.data_ptr());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

void check_alias(const char* op, const char* out_name, const Tensor& out, const char* in_name, const Tensor& in) {
  const bool same = out.data_ptr() == in.data_ptr() && out.nbytes() == in.nbytes();
  PTHRUN_CHECK(same || !overlaps(out, in), op, ": ", out_name, " partly overlaps ", in_name,
               "; they must be the same tensor or not overlap");
}

void check_int32_range(const char* op, const char* what, int64_t value) {
  PTHRUN_CHECK(value >= 0 && value <= INT32_MAX, op, ": ", what, " is ", value, ", expected 0 .. ", INT32_MAX);
}

}  // namespace pthrun::kernels
