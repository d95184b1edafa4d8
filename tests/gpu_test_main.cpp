// main() of the GPU suites: without a CUDA device they say so in one line and exit with 77,
// which CTest reports as skipped (doctest itself has no run-time skip).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "runtime/device.h"

int main(int argc, char** argv) {
  if (pthrun::cuda_device_count() == 0) {
    std::printf("SKIPPED: %s: no CUDA device on this machine, GPU tests not run\n", argv[0]);
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
