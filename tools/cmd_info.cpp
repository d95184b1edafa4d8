// pthrun info: what this build and this machine offer.
#include <cstdio>

#include "runtime/alloc_config.h"
#include "runtime/allocator.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "tools/cli.h"

namespace pthrun::cli {

namespace {

int run_info() {
  std::printf("pthrun %s, CUDA backend %s\n", PTHRUN_VERSION, built_with_cuda() ? "built" : "not built");
  std::printf("allocator: %s\n", allocator_config().to_string().c_str());
  DeviceProperties cpu = device_properties(cpu_device);
  std::printf("cpu: %s, %d cores, %s\n", cpu.name.c_str(), cpu.multiprocessors,
              format_bytes(static_cast<double>(cpu.total_memory)).c_str());
  for (int i = 0; i < cuda_device_count(); ++i) {
    DeviceProperties gpu = device_properties(cuda_device(i));
    std::printf("cuda:%d: %s, sm_%d%d, %d multiprocessors, %s\n", i, gpu.name.c_str(), gpu.compute_major,
                gpu.compute_minor, gpu.multiprocessors, format_bytes(static_cast<double>(gpu.total_memory)).c_str());
  }
  if (cuda_device_count() == 0) std::printf("no CUDA device: pthrun runs on the CPU\n");
  std::printf("default device: %s\n", default_device().to_string().c_str());
  return 0;
}

}  // namespace

extern const Command info_command = {"info", "Show the build, the devices and the allocator settings",
                                     [](CLI::App&) -> RunFunction { return run_info; }};

}  // namespace pthrun::cli
