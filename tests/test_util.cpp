#include "tests/test_util.h"

#include <cstring>
#include <limits>
#include <sstream>

#include "runtime/error.h"
#include "runtime/file_util.h"

namespace pthrun::test {

NpyFile read_npy(const std::string& path) {
  const std::string bytes = read_file(path);
  PTHRUN_CHECK(bytes.size() >= 10 && bytes.compare(0, 8, std::string("\x93NUMPY\x01\x00", 8)) == 0, path,
               ": not a .npy file of format 1.0");
  const std::size_t header_len = static_cast<unsigned char>(bytes[8]) | static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8;
  PTHRUN_CHECK(bytes.size() >= 10 + header_len && (10 + header_len) % 64 == 0, path,
               ": the header must end on a multiple of 64 bytes");
  const std::string header = bytes.substr(10, header_len);
  PTHRUN_CHECK(header.back() == '\n' && header.find("'fortran_order': False") != std::string::npos, path,
               ": expected a C-order array, header ", header);
  NpyFile npy;
  const std::size_t d = header.find("'descr': '");
  PTHRUN_CHECK(d != std::string::npos, path, ": no descr in ", header);
  npy.descr = header.substr(d + 10, header.find('\'', d + 10) - d - 10);
  const std::size_t open = header.find('(', header.find("'shape'"));
  std::stringstream dims(header.substr(open + 1, header.find(')', open) - open - 1));
  for (std::string item; std::getline(dims, item, ',');)
    if (item.find_first_of("0123456789") != std::string::npos) npy.shape.push_back(std::stoll(item));
  npy.data = bytes.substr(10 + header_len);
  return npy;
}

NpyArray read_npy_f32(const std::string& path) {
  const NpyFile npy = read_npy(path);
  PTHRUN_CHECK(npy.descr == "<f4", path, ": expected float32 ('<f4'), found '", npy.descr, "'");
  NpyArray out{Shape(std::span<const int64_t>(npy.shape)), {}};
  const std::size_t count = static_cast<std::size_t>(shape_numel(out.shape));
  PTHRUN_CHECK(npy.data.size() == count * 4, path, ": ", npy.data.size(), " bytes of data do not fit shape ",
               out.shape.to_string());
  out.values.resize(count);
  std::memcpy(out.values.data(), npy.data.data(), count * 4);
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
