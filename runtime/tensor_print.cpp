// Reading values back for tests and printing tensors for people.
#include <cmath>
#include <cstdio>

#include "runtime/convert_element.h"
#include "runtime/error.h"
#include "runtime/tensor.h"

namespace pthrun {

namespace {

constexpr int64_t kSummaryThreshold = 1000;  // larger tensors print their edges only
constexpr int64_t kEdgeItems = 3;

std::string format_value(Scalar s, DType dtype) {
  if (dtype == DType::boolean) return s.i ? "True" : "False";
  if (s.is_int) return std::to_string(s.i);
  if (std::isnan(s.f)) return "nan";
  if (std::isinf(s.f)) return s.f > 0 ? "inf" : "-inf";
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", s.f);
  return text;
}

// Prints dimension `dim` of a contiguous host tensor starting at element `base`.
void print_dim(std::string& out, const Tensor& t, int dim, int64_t base, bool summarise, int indent) {
  const int64_t n = t.size(dim);
  const int64_t step = t.stride(dim);
  const char* data = static_cast<const char*>(t.data_ptr());
  out += '[';
  for (int64_t i = 0; i < n; ++i) {
    if (summarise && n > 2 * kEdgeItems && i == kEdgeItems) {
      out += dim + 1 == t.dim() ? "..., " : "...,\n" + std::string(static_cast<std::size_t>(indent + 1), ' ');
      i = n - kEdgeItems - 1;
      continue;
    }
    if (dim + 1 == t.dim())
      out += format_value(load_element(data + (base + i * step) * static_cast<int64_t>(t.itemsize()), t.dtype()), t.dtype());
    else
      print_dim(out, t, dim + 1, base + i * step, summarise, indent + 1);
    if (i + 1 < n) out += dim + 1 == t.dim() ? ", " : ",\n" + std::string(static_cast<std::size_t>(indent + 1), ' ');
  }
  out += ']';
}

}  // namespace

std::vector<double> Tensor::to_doubles() const {
  const Tensor host = to(cpu_device).contiguous();
  std::vector<double> out(static_cast<std::size_t>(host.numel()));
  const char* data = static_cast<const char*>(host.data_ptr());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = scalar_as_double(load_element(data + i * itemsize(), dtype_));
  return out;
}

std::vector<float> Tensor::to_floats() const {
  const Tensor host = to(cpu_device).to(DType::f32).contiguous();
  const float* data = host.data<float>();
  return std::vector<float>(data, data + host.numel());
}

std::string Tensor::to_string() const {
  if (!defined()) return "Tensor(undefined)";
  std::string out = str("Tensor(", dtype_name(dtype_), ", shape=", shape_.to_string(), ", ",
                        device().to_string(), ")\n");
  const Tensor host = to(cpu_device).contiguous();
  if (dim() == 0) {
    out += format_value(load_element(host.data_ptr(), dtype_), dtype_);
  } else {
    print_dim(out, host, 0, 0, numel() > kSummaryThreshold, 0);
  }
  return out;
}

}  // namespace pthrun
