#include "runtime/cuda_plugin.h"

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

#include "runtime/dtype.h"
#include "runtime/error.h"

// The installed package's library folder, compiled into applications that find_package(pthrun)
// (third_party/pthrunConfig.cmake.in writes its definition); absent elsewhere, hence weak.
extern "C" __attribute__((weak)) const char* const pthrun_installed_plugin_dir;

namespace pthrun {

// The ABI freezes DType's numbers (see cuda_plugin_api.h).
static_assert(static_cast<int>(DType::f32) == PTHRUN_CUDA_F32 && static_cast<int>(DType::f16) == PTHRUN_CUDA_F16 &&
              static_cast<int>(DType::bf16) == PTHRUN_CUDA_BF16 && static_cast<int>(DType::f64) == PTHRUN_CUDA_F64 &&
              static_cast<int>(DType::i64) == PTHRUN_CUDA_I64 && static_cast<int>(DType::i32) == PTHRUN_CUDA_I32 &&
              static_cast<int>(DType::i16) == PTHRUN_CUDA_I16 && static_cast<int>(DType::i8) == PTHRUN_CUDA_I8 &&
              static_cast<int>(DType::u8) == PTHRUN_CUDA_U8 && static_cast<int>(DType::boolean) == PTHRUN_CUDA_BOOL);

namespace {

namespace fs = std::filesystem;

struct Loaded {
  const PthrunCudaPluginV1* api = nullptr;
  std::string path;
  std::string error;
};

// The folder of the executable or shared library this code was linked into: dladdr names a
// shared library by the path it was loaded from, but the main program only by argv[0], so
// that one comes from /proc/self/exe.
fs::path module_dir() {
  Dl_info info{};
  link_map* map = nullptr;
  if (dladdr1(reinterpret_cast<void*>(&module_dir), &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) && map &&
      map->l_name && map->l_name[0] == '/')
    return fs::path(map->l_name).parent_path();
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

std::string dl_error() {
  const char* text = dlerror();
  return text ? text : "unknown dlopen error";
}

// The table behind a plugin's entry point, if it speaks this core's interface version.
Loaded table_of(PthrunCudaPluginEntryV1 entry, const std::string& path) {
  Loaded out{nullptr, path, ""};
  const PthrunCudaPluginV1* api = entry();
  if (api && api->abi == PTHRUN_CUDA_PLUGIN_ABI && api->size >= sizeof(PthrunCudaPluginV1)) {
    out.api = api;
    return out;
  }
  out.error = str("the CUDA backend ", path, " speaks interface version ", api ? api->abi : 0u, " (a table of ",
                  api ? api->size : 0u, " bytes); this pthrun needs version ", PTHRUN_CUDA_PLUGIN_ABI, " (",
                  sizeof(PthrunCudaPluginV1), " bytes): use the plugin built with this pthrun");
  return out;
}

// Opens the plugin file at `path` and checks its entry point and interface version. A plugin
// that was opened stays open, refused or not: its constructors ran, and unmapping code with
// live state is unsafe.
Loaded open_plugin(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return {nullptr, path, str("cannot load the CUDA backend ", path, ": ", dl_error())};
  auto entry = reinterpret_cast<PthrunCudaPluginEntryV1>(dlsym(handle, PTHRUN_CUDA_PLUGIN_ENTRY));
  if (!entry)
    return {nullptr, path,
            str("the CUDA backend ", path, " has no entry point ", PTHRUN_CUDA_PLUGIN_ENTRY,
                ": not a pthrun CUDA plugin of interface version ", PTHRUN_CUDA_PLUGIN_ABI)};
  return table_of(entry, path);
}

// Where the plugin is (the search order of cuda_plugin.h), found without opening anything.
struct Location {
  std::string path;      // the file to open; empty when none was found
  std::string error;     // why none is usable
  bool in_process = false;
};

Location locate_plugin() {
  if (const char* env = std::getenv("PTHRUN_CUDA_PLUGIN"); env && *env) {
    if (fs::exists(env)) return {env, "", false};
    return {env, str("the CUDA backend ", env, " (named by PTHRUN_CUDA_PLUGIN) does not exist"), false};
  }
  // Already in the process: linked by the program itself.
  if (void* entry = dlsym(RTLD_DEFAULT, PTHRUN_CUDA_PLUGIN_ENTRY)) {
    Dl_info info{};
    return {dladdr(entry, &info) && info.dli_fname ? info.dli_fname : kCudaPluginFile, "", true};
  }
  const fs::path dir = module_dir();
  std::vector<fs::path> folders = {dir, (dir / PTHRUN_PLUGIN_DIR_FROM_BINDIR).lexically_normal()};
  if (&pthrun_installed_plugin_dir && pthrun_installed_plugin_dir) folders.emplace_back(pthrun_installed_plugin_dir);
  std::string searched;
  for (const fs::path& folder : folders) {
    if (fs::exists(folder / kCudaPluginFile)) return {(folder / kCudaPluginFile).string(), "", false};
    searched += str(searched.empty() ? "" : ", ", folder.string());
  }
  return {"", str("CUDA backend not installed: no ", kCudaPluginFile, " in ", searched,
                  "; set PTHRUN_CUDA_PLUGIN to its path"),
          false};
}

Loaded find_plugin() {
  const Location where = locate_plugin();
  if (!where.error.empty()) return {nullptr, where.path, where.error};
  if (where.in_process)
    return table_of(reinterpret_cast<PthrunCudaPluginEntryV1>(dlsym(RTLD_DEFAULT, PTHRUN_CUDA_PLUGIN_ENTRY)),
                    where.path);
  return open_plugin(where.path);
}

std::mutex& load_mutex() {
  static std::mutex mutex;
  return mutex;
}
// Set once, under load_mutex, and never cleared or freed: the plugin stays loaded until the
// process ends (statics destroyed at exit may still free device memory through it).
std::atomic<const Loaded*> loaded_state{nullptr};

const Loaded& load_once() {
  if (const Loaded* state = loaded_state.load(std::memory_order_acquire)) return *state;
  std::lock_guard lock(load_mutex());
  if (!loaded_state.load()) loaded_state.store(new Loaded(find_plugin()), std::memory_order_release);
  return *loaded_state.load();
}

// The plugin's description of this thread's last failure. Only called after a call into the
// plugin, which is therefore loaded.
const char* plugin_message(int* code) noexcept {
  const char* message = nullptr;
  *code = 0;
  if (const Loaded* state = loaded_state.load(std::memory_order_acquire); state && state->api)
    state->api->last_error(code, &message);
  return message ? message : "unknown error in the CUDA backend";
}

}  // namespace

const PthrunCudaPluginV1& cuda_plugin() {
  const Loaded& state = load_once();
  if (!state.api) throw Error(state.error);
  return *state.api;
}

bool cuda_plugin_loaded() {
  const Loaded* state = loaded_state.load(std::memory_order_acquire);
  return state && state->api;
}

CudaBackendStatus cuda_backend_status(bool load) {
  if (!load && !loaded_state.load(std::memory_order_acquire)) {
    const Location where = locate_plugin();
    return {false, where.path, where.error};
  }
  const Loaded& state = load_once();
  return {state.api != nullptr, state.path, state.error};
}

bool cuda_plugin_wanted() {
  const char* named = std::getenv("PTHRUN_CUDA_PLUGIN");
  return (named && *named) || nvidia_driver_present();
}

bool nvidia_driver_present() {
  // /proc/driver/nvidia: the kernel module is loaded; /dev/nvidiactl: a container or VM given the
  // GPU; /dev/dxg: WSL's GPU.
  for (const char* path : {"/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/dxg"})
    if (::access(path, F_OK) == 0) return true;
  return false;
}

void cuda_check(int status) {
  if (status == PTHRUN_CUDA_OK) return;
  int code = 0;
  const std::string message = plugin_message(&code);
  switch (status) {
    case PTHRUN_CUDA_ERROR_CUDA:
      throw CudaError(code, message);
    case PTHRUN_CUDA_ERROR_CUBLAS:
      throw CublasError(code, message);
    default:
      throw Error(message);
  }
}

bool cuda_warn(int status) noexcept {
  if (status == PTHRUN_CUDA_OK) return true;
  int code = 0;
  std::fprintf(stderr, "warning: %s\n", plugin_message(&code));
  return false;
}

}  // namespace pthrun
