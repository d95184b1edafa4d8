#include "runtime/device.h"

#include <unistd.h>

#include <charconv>
#include <mutex>

#include "runtime/cuda_plugin.h"
#include "runtime/error.h"

namespace pthrun {

namespace {

struct CudaDevices {
  int count = 0;
  std::string reason;  // why count is 0
};

// The plugin's answer, asked once: it cannot change while the process runs.
const CudaDevices& asked_devices() {
  static const CudaDevices devices = [] {
    CudaDevices d;
    try {
      cuda_check(cuda_plugin().device_count(&d.count));
      if (d.count == 0) d.reason = "no usable CUDA device: the CUDA driver reports none";
    } catch (const Error& e) {
      d.count = 0;
      d.reason = e.what();
    }
    return d;
  }();
  return devices;
}

// Without an NVIDIA driver on the machine (and no plugin named or opened already) the answer
// is known without opening anything.
const CudaDevices& cuda_devices() {
  static const CudaDevices no_driver{
      0, "no usable CUDA device: no NVIDIA driver on this machine (no /proc/driver/nvidia, /dev/nvidiactl or /dev/dxg)"};
  return cuda_plugin_wanted() || cuda_plugin_loaded() ? asked_devices() : no_driver;
}

}  // namespace

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

int cuda_device_count() { return cuda_devices().count; }

std::string cuda_unavailable_reason() { return cuda_devices().reason; }

Device default_device() { return cuda_device_count() > 0 ? cuda_device(0) : cpu_device; }

std::string device_problem(Device device) {
  if (device.is_cpu()) return "";
  try {
    cuda_plugin();
  } catch (const Error& e) {
    return e.what();
  }
  const CudaDevices& devices = asked_devices();
  if (devices.count == 0) return devices.reason;
  if (device.index >= devices.count) return str("no such device: ", devices.count, " CUDA device(s) present");
  return "";
}

void check_device(Device device) {
  if (device.is_cpu()) return;
  const std::string problem = device_problem(device);
  PTHRUN_CHECK(problem.empty(), device.to_string(), ": ", problem);
}

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
  check_device(device);
  PthrunCudaDeviceProperties p{};
  cuda_check(cuda_plugin().device_properties(device.index, &p));
  props.name = p.name;
  props.total_memory = p.total_memory;
  props.multiprocessors = p.multiprocessors;
  props.compute_major = p.compute_major;
  props.compute_minor = p.compute_minor;
  return props;
}

void set_current_device(Device device) {
  if (device.is_cpu()) return;
  check_device(device);
  cuda_check(cuda_plugin().set_device(device.index));
}

void synchronize_device(Device device) {
  if (device.is_cpu()) return;
  check_device(device);
  cuda_check(cuda_plugin().device_synchronize(device.index));
}

}  // namespace pthrun
