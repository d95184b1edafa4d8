#include "loader/npy.h"

#include <algorithm>

#include "runtime/error.h"
#include "runtime/file_util.h"

namespace pthrun {

namespace {

constexpr int64_t kChunkElems = int64_t(1) << 22;

const char* descr(DType dtype) {
  switch (dtype) {
    case DType::f32: return "<f4";
    case DType::f16: return "<f2";
    case DType::f64: return "<f8";
    case DType::i64: return "<i8";
    case DType::i32: return "<i4";
    case DType::i16: return "<i2";
    case DType::i8: return "|i1";
    case DType::u8: return "|u1";
    case DType::boolean: return "|b1";
    case DType::bf16: break;
  }
  throw Error(str("npy: no NumPy type for ", dtype_name(dtype)));
}

}  // namespace

std::string npy_header(DType stored_dtype, const Shape& shape) {
  std::string dict = str("{'descr': '", descr(stored_dtype), "', 'fortran_order': False, 'shape': (");
  for (int d = 0; d < shape.size(); ++d) dict += str(shape[d], shape.size() == 1 ? "," : (d + 1 < shape.size() ? ", " : ""));
  dict += "), }";
  // Magic (6) + version (2) + length (2) + dict, padded with spaces and a newline to 64 bytes.
  const std::size_t total = (10 + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - 10 - dict.size() - 1, ' ');
  dict += '\n';
  std::string header = std::string("\x93NUMPY\x01\x00", 8);
  header += static_cast<char>(dict.size() & 0xff);
  header += static_cast<char>(dict.size() >> 8);
  return header + dict;
}

void write_npy(const std::string& path, const Tensor& tensor) {
  PTHRUN_CHECK(tensor.defined(), "npy: an undefined tensor");
  const DType stored = tensor.dtype() == DType::bf16 ? DType::f32 : tensor.dtype();
  OutputFile out(path);
  out.write(npy_header(stored, tensor.shape()));
  // Written in chunks of rows, so that a large tensor is never copied whole.
  const Tensor flat = tensor.is_contiguous() ? tensor.reshape({tensor.numel()}) : Tensor();
  const int64_t n = tensor.numel();
  if (flat.defined()) {
    for (int64_t at = 0; at < n; at += kChunkElems) {
      const Tensor part = flat.slice(0, at, std::min(n, at + kChunkElems));
      const Tensor host = part.to(cpu_device).to(stored);
      out.write(host.data_ptr(), host.nbytes());
    }
  } else {
    const Tensor host = tensor.contiguous().to(cpu_device).to(stored);
    out.write(host.data_ptr(), host.nbytes());
  }
  out.commit();
}

}  // namespace pthrun
