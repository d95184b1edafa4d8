// pthrun info: what this build and this machine offer: the allocator's settings, the CPU, the
// CUDA backend (whether it was found, from where, which CUDA runtime, driver and cuBLASLt),
// the GPUs, and whether cuBLASLt has an algorithm for every GPT-2 product shape.
//
// On a machine without an NVIDIA driver the backend is only looked for, never loaded: `info`
// maps no CUDA library there.
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/cuda_gemm.h"
#include "model/config.h"
#include "model/gpt2_products.h"
#include "runtime/alloc_config.h"
#include "runtime/allocator.h"
#include "runtime/cuda_plugin.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "tools/cli.h"

namespace pthrun::cli {

namespace {

// 13000 -> "13.0", as CUDA spells its versions.
std::string cuda_version_text(int version) { return str(version / 1000, ".", version % 1000 / 10); }

// Asks cuBLASLt about every product of every GPT-2 preset (f32, TF32, bf16, f16; both weight
// layouts; decode and prefill row counts) and prints those that would take the naive kernel.
void print_gemm_paths(Device device) {
  constexpr int64_t rows[] = {1, 2, 3, 4, 7, 8, 16, 64, 128, 1024};
  std::size_t count = 0, checked = 0;
  std::vector<std::string> naive;
  const Gpt2Preset* list = presets(&count);
  for (std::size_t p = 0; p < count; ++p) {
    const Gpt2Config config = preset_config(list[p]);
    for (DType dtype : {DType::f32, DType::bf16, DType::f16})
      for (bool tf32 : {false, true}) {
        if (tf32 && dtype != DType::f32) continue;
        for (auto layout : {kernels::WeightLayout::out_in, kernels::WeightLayout::in_out})
          for (const kernels::GemmShape& shape : gpt2_products(config, dtype, layout, rows, tf32)) {
            ++checked;
            if (kernels::gemm_path(device, shape) == kernels::GemmPath::naive)
              naive.push_back(str(list[p].name, ": ", shape.to_string()));
          }
      }
  }
  std::printf("GPT-2 products on %s (4 sizes; f32, TF32, bf16, f16; both layouts; 1 to 1024 rows): %zu shapes, "
              "%zu on the naive kernel\n",
              device.to_string().c_str(), checked, naive.size());
  for (const std::string& line : naive) std::printf("  naive: %s\n", line.c_str());
}

void print_cuda(const std::string& indent) {
  const bool wanted = cuda_plugin_wanted();
  const CudaBackendStatus status = cuda_backend_status(/*load=*/wanted);
  if (!status.loaded) {
    if (status.error.empty())
      std::printf("CUDA backend: %s (not loaded: no NVIDIA driver on this machine)\n", status.path.c_str());
    else
      std::printf("%s\n", status.error.c_str());
    return;
  }
  const PthrunCudaPluginV1& api = cuda_plugin();
  PthrunCudaVersions versions{};
  cuda_check(api.versions(&versions));
  std::printf("CUDA backend: %s (%s)\n", status.path.c_str(), api.description);
  std::printf("%sCUDA runtime %s, driver %s\n", indent.c_str(), cuda_version_text(versions.runtime).c_str(),
              versions.driver ? cuda_version_text(versions.driver).c_str() : "none");
  if (cuda_device_count() == 0) {
    std::printf("%s%s\n", indent.c_str(), cuda_unavailable_reason().c_str());
    return;
  }
  int blas_version = 0;
  const char* blas_path = nullptr;
  if (api.load_blas(&blas_version, &blas_path) != PTHRUN_CUDA_OK) {
    int code = 0;
    const char* why = nullptr;
    api.last_error(&code, &why);
    std::printf("%scuBLASLt: %s\n", indent.c_str(), why);
  } else {
    std::printf("%scuBLASLt %d.%d.%d: %s\n", indent.c_str(), blas_version / 10000, blas_version / 100 % 100,
                blas_version % 100, blas_path);
  }
  for (int i = 0; i < cuda_device_count(); ++i) {
    DeviceProperties gpu = device_properties(cuda_device(i));
    std::printf("cuda:%d: %s, sm_%d%d, %d multiprocessors, %s\n", i, gpu.name.c_str(), gpu.compute_major,
                gpu.compute_minor, gpu.multiprocessors, format_bytes(static_cast<double>(gpu.total_memory)).c_str());
  }
  if (blas_path) print_gemm_paths(cuda_device(0));
}

int run_info() {
  std::printf("pthrun %s (CUDA backend plugin of this build: %s)\n", PTHRUN_VERSION, PTHRUN_CUDA_BUILD);
  std::printf("allocator: %s\n", allocator_config().to_string().c_str());
  DeviceProperties cpu = device_properties(cpu_device);
  std::printf("cpu: %s, %d cores, %s\n", cpu.name.c_str(), cpu.multiprocessors,
              format_bytes(static_cast<double>(cpu.total_memory)).c_str());
  print_cuda("  ");
  if (cuda_device_count() == 0) std::printf("no CUDA device: pthrun runs on the CPU\n");
  std::printf("default device: %s\n", default_device().to_string().c_str());
  return 0;
}

}  // namespace

extern const Command info_command = {"info", "Show the build, the CUDA backend, the devices and the allocator settings",
                                     [](CLI::App&) -> RunFunction { return run_info; }};

}  // namespace pthrun::cli
