#include "runtime/device.h"

#include <unistd.h>

#include <charconv>

#include "runtime/error.h"

#if PTHRUN_WITH_CUDA
#include "runtime/cuda_check.h"
#endif

namespace pthrun {

std::string Device::to_string() const {
  return is_cpu() ? std::string("cpu") : str("cuda:", index);
}

Device parse_device(std::string_view text) {
  if (text == "cpu") return cpu_device;
  if (text == "cuda") return cuda_device(0);
  if (text.starts_with("cuda:")) {
    std::string_view digits = text.substr(5);
    int index = -1;
    auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (err == std::errc() && end == digits.data() + digits.size() && index >= 0)
      return cuda_device(index);
  }
  throw Error(str("unknown device '", text, "': expected cpu, cuda or cuda:N"));
}

bool built_with_cuda() { return PTHRUN_WITH_CUDA; }

int cuda_device_count() {
#if PTHRUN_WITH_CUDA
  // Asked once: the answer cannot change while the process runs, and a machine without a
  // driver answers with an error, which means "no GPU" here.
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return n;
  }();
  return count;
#else
  return 0;
#endif
}

Device default_device() { return cuda_device_count() > 0 ? cuda_device(0) : cpu_device; }

DeviceProperties device_properties(Device device) {
  DeviceProperties props;
  if (device.is_cpu()) {
    char host[256] = "cpu";
    gethostname(host, sizeof host - 1);
    props.name = str("cpu (", host, ")");
    props.total_memory =
        static_cast<std::size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    props.multiprocessors = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
    return props;
  }
#if PTHRUN_WITH_CUDA
  PTHRUN_CHECK(device.index < cuda_device_count(), "device ", device.to_string(),
               " does not exist: ", cuda_device_count(), " CUDA device(s) present");
  cudaDeviceProp p{};
  PTHRUN_CUDA_CHECK(cudaGetDeviceProperties(&p, device.index));
  props.name = p.name;
  props.total_memory = p.totalGlobalMem;
  props.multiprocessors = p.multiProcessorCount;
  props.compute_major = p.major;
  props.compute_minor = p.minor;
  return props;
#else
  throw Error(str("device ", device.to_string(), " requested, but pthrun was built without CUDA"));
#endif
}

void set_current_device(Device device) {
  if (device.is_cpu()) return;
#if PTHRUN_WITH_CUDA
  PTHRUN_CHECK(device.index < cuda_device_count(), "device ", device.to_string(),
               " does not exist: ", cuda_device_count(), " CUDA device(s) present");
  PTHRUN_CUDA_CHECK(cudaSetDevice(device.index));
#else
  throw Error(str("device ", device.to_string(), " requested, but pthrun was built without CUDA"));
#endif
}

}  // namespace pthrun
