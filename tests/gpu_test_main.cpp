// main() of the GPU suites: without a CUDA device they say so in one line and exit with 77,
// which CTest reports as skipped (doctest itself has no run-time skip).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "runtime/device.h"

int main(int argc, char** argv) {
  if (const std::string problem = pthrun::device_problem(pthrun::cuda_device(0)); !problem.empty()) {
    std::printf("SKIPPED: %s: GPU tests not run: %s\n", argv[0], problem.c_str());
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
