#include "tests/test_util.h"

#include <cstring>
#include <limits>

#include "runtime/error.h"
#include "runtime/file_util.h"

namespace pthrun::test {

NpyArray read_npy_f32(const std::string& path) {
  const std::string bytes = read_file(path);
  PTHRUN_CHECK(bytes.size() >= 10 && bytes.compare(0, 6, "\x93NUMPY") == 0, path, ": not a .npy file");
  const auto header_len = static_cast<std::size_t>(static_cast<unsigned char>(bytes[8]) |
                                                   (static_cast<unsigned char>(bytes[9]) << 8));
  const std::string header = bytes.substr(10, header_len);
  PTHRUN_CHECK(header.find("'descr': '<f4'") != std::string::npos &&
                   header.find("'fortran_order': False") != std::string::npos,
               path, ": expected little-endian float32 in C order, header ", header);
  NpyArray out;
  std::size_t open = header.find('(', header.find("'shape'"));
  std::size_t close = header.find(')', open);
  std::string dims = header.substr(open + 1, close - open - 1);
  for (std::size_t pos = 0; pos < dims.size();) {
    std::size_t comma = dims.find(',', pos);
    std::string item = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item.find_first_of("0123456789") != std::string::npos) out.shape.push_back(std::stoll(item));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  const std::size_t count = static_cast<std::size_t>(shape_numel(out.shape));
  PTHRUN_CHECK(bytes.size() == 10 + header_len + count * 4, path, ": ", bytes.size(),
               " bytes do not fit shape ", out.shape.to_string());
  out.values.resize(count);
  std::memcpy(out.values.data(), bytes.data() + 10 + header_len, count * 4);
  return out;
}

double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i])) return std::numeric_limits<double>::infinity();
    diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    norm += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(diff / norm);
}

}  // namespace pthrun::test
