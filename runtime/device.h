// Devices: the CPU and CUDA GPUs ("cpu", "cuda", "cuda:1").
//
// pthrun uses a CUDA device when one exists, else the CPU; cuda_device_count() is 0 in a build
// without the CUDA toolkit and on machines without a usable driver or GPU.
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

bool built_with_cuda();
int cuda_device_count();
// cuda:0 when a GPU is usable, else the CPU.
Device default_device();

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

}  // namespace pthrun
