// Devices: the CPU and CUDA GPUs ("cpu", "cuda", "cuda:1").
//
// pthrun uses a CUDA device when one exists, else the CPU. CUDA devices are reached through the
// CUDA backend, a plugin opened on first need (runtime/cuda_plugin.h): cuda_device_count() is 0
// without it, without a usable driver or without a GPU, and on a machine with no NVIDIA driver
// at all it answers without opening anything.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pthrun {

enum class DeviceType : unsigned char { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  std::string to_string() const;
  friend bool operator==(const Device&, const Device&) = default;
};

inline constexpr Device cpu_device{DeviceType::cpu, 0};
inline Device cuda_device(int index = 0) { return {DeviceType::cuda, index}; }

// Parses "cpu", "cuda" or "cuda:N"; throws pthrun::Error naming the text otherwise.
Device parse_device(std::string_view text);

int cuda_device_count();
// Why cuda_device_count() is 0: the backend missing, no driver, no GPU (empty when it is not).
std::string cuda_unavailable_reason();
// cuda:0 when a GPU is usable, else the CPU.
Device default_device();
// Why `device` cannot be used, in one line (the CUDA backend missing, with the paths searched or
// what dlopen reported; no usable device and why; an index out of range); empty when it can.
// Asked about a CUDA device, opens the backend even on a machine without a driver.
std::string device_problem(Device device);
// Throws pthrun::Error "cuda:1: <device_problem>" when there is one.
void check_device(Device device);

struct DeviceProperties {
  std::string name;
  std::size_t total_memory = 0;
  int multiprocessors = 0;
  int compute_major = 0, compute_minor = 0;
};
// For the CPU: the host's name and physical memory.
DeviceProperties device_properties(Device device);

// Makes `device` current for the calling thread's CUDA calls (no-op for the CPU).
void set_current_device(Device device);
// Waits until every stream of `device` is idle (no-op for the CPU).
void synchronize_device(Device device);

}  // namespace pthrun
