// Finding and opening the CUDA backend (libpthrun_cuda.so, see cuda_plugin_api.h), and turning
// its statuses into pthrun's exceptions.
//
//   const PthrunCudaPluginV1& api = cuda_plugin();   // opened on first use; throws why not
//   cuda_check(api.stream_synchronize(stream));       // CudaError / CublasError with its message
//
// Nothing is loaded until a CUDA device is asked for, or until cuda_device_count() finds an
// NVIDIA driver on the machine (nvidia_driver_present()): `pthrun --help`, and every command
// that stays on the CPU of a machine without a GPU, never map a CUDA library.
//
// Where the plugin is looked for, first match wins; only absolute paths, never the working
// directory (a dlopen by bare name would search the program's RUNPATH, and CMake's build trees
// leave an empty entry there, which means the working directory):
//   1. PTHRUN_CUDA_PLUGIN, the path of the file (tests, unusual layouts); nothing else is tried;
//   2. a plugin already linked into the process (the GPU test suites link it directly);
//   3. beside the module that holds this code, the pthrun executable or an application linking
//      pthrun's static libraries: DIR/libpthrun_cuda.so, then DIR/../lib/ (an installed
//      bin/pthrun finds lib/libpthrun_cuda.so);
//   4. the installed package's lib/, which find_package(pthrun) compiles into applications
//      (third_party/pthrunConfig.cmake.in), wherever they run from.
#pragma once

#include <string>

#include "runtime/cuda_plugin_api.h"

namespace pthrun {

// The plugin's file name.
inline constexpr const char* kCudaPluginFile = "libpthrun_cuda.so";

// The plugin, opened on first call (thread-safe). Throws pthrun::Error with one line saying
// what is missing: the paths tried, or what dlopen reported (the plugin's own dependencies too).
const PthrunCudaPluginV1& cuda_plugin();

// Whether the plugin has been opened successfully (never opens it).
bool cuda_plugin_loaded();

// Whether the plugin is open, where it came from, or why it is not: for `pthrun info`. With
// `load`, tries to open it first (once per process, like cuda_plugin()); without, only looks
// for the file.
struct CudaBackendStatus {
  bool loaded = false;
  std::string path;   // the file opened, or found (empty when none was)
  std::string error;  // why it is not loaded: empty when found but not asked to load
};
CudaBackendStatus cuda_backend_status(bool load);

// Whether this machine has an NVIDIA driver at all (its device files or /proc entry), checked
// without loading anything.
bool nvidia_driver_present();
// Whether looking for CUDA devices is worth opening the plugin: a driver is present, or
// PTHRUN_CUDA_PLUGIN names a plugin explicitly.
bool cuda_plugin_wanted();

// Throws, when status is not PTHRUN_CUDA_OK, the exception the plugin's last error calls for
// (CudaError, CublasError or Error) with its message.
void cuda_check(int status);
// The same for destructors and noexcept paths: prints "warning: <message>" to stderr instead.
// Returns whether the call succeeded.
bool cuda_warn(int status) noexcept;

}  // namespace pthrun
