// Helpers shared by the test suites: fixture paths, reading .npy references, comparing tensors.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "runtime/shape.h"

namespace pthrun::test {

inline std::string fixture(const std::string& relative) {
  return std::string(PTHRUN_SOURCE_DIR) + "/tests/fixtures/" + relative;
}

struct NpyArray {
  Shape shape;
  std::vector<float> values;
};

// Reads a little-endian float32 C-order .npy file (format 1.0), as numpy.save writes it.
NpyArray read_npy_f32(const std::string& path);

// ||a - b|| / ||b||; infinity when any value of `a` is NaN, so NaN never passes.
double relative_error(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace pthrun::test
