// Helpers shared by the test suites: fixture paths, reading .npy references, comparing tensors.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/shape.h"

namespace pthrun::test {

inline std::string fixture(const std::string& relative) {
  return std::string(PTHRUN_SOURCE_DIR) + "/tests/fixtures/" + relative;
}

// A .npy file (format 1.0, C order) as numpy.save writes it: the header checked, the data raw.
struct NpyFile {
  std::string descr;  // "<f4", "|b1", ...
  std::vector<int64_t> shape;
  std::string data;
};
// Throws pthrun::Error for anything else (another version, Fortran order, an unaligned header).
NpyFile read_npy(const std::string& path);

struct NpyArray {
  Shape shape;
  std::vector<float> values;
};
// A little-endian float32 file, as the references are.
NpyArray read_npy_f32(const std::string& path);

// ||a - b|| / ||b||; infinity when any value of `a` is NaN, so NaN never passes.
double relative_error(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace pthrun::test
