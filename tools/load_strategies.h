// The ways to load a torch.save'd GPT-2 onto a device, re-created natively with pthrun's
// runtime so that their memory can be measured with the same counters as pthrun's streaming
// loader. They follow the published study of PyTorch's options (README, "Loading"):
//
//   naive        build the model on the device, load the state dict onto the device, copy it
//                in (load_state_dict): the weights twice on the device
//   sequential   the whole state dict in host memory, then tensor by tensor onto the device
//   meta         no initialisation (meta + to_empty), the state dict straight onto the
//                device, then copied in: twice on the device, little on the host
//   mmap         the file memory-mapped, its tensors assigned to the model (no copy), then the
//                model moved to the device: the whole file resident on the host
//   per_tensor   a folder of one file per tensor, each loaded onto the device and copied in
//   pthrun       pthrun's streaming loader: each tensor from the mapping into its final buffer
//   pthrun_mmap  pthrun's model load (Gpt2Model::load): on the CPU, weights already in the
//                model's dtype and layout are views of the mapped file (zero-copy), the rest
//                streamed; on a GPU the same as pthrun
//
// Each is run in a fresh process by `pthrun load-bench`, which measures it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/device.h"

namespace pthrun::cli {

struct LoadStrategy {
  const char* key;
  const char* description;
};
const std::vector<LoadStrategy>& load_strategies();

struct LoadRun {
  std::string checkpoint;
  std::string per_tensor_dir;  // for per_tensor: the checkpoint as one file per tensor
  Device device;
  std::optional<int64_t> heads;
  bool allow_unused = false;
};

struct LoadMeasurement {
  std::string strategy;
  double seconds = 0;
  int64_t device_peak_allocated = 0;  // the device allocator's counters
  int64_t device_peak_reserved = 0;
  uint64_t host_peak_rss = 0;   // VmHWM: the kernel's high-water mark, file pages included
  uint64_t host_peak_anon = 0;  // sampled anonymous RSS
  uint64_t weights_bytes = 0;   // what the model holds at the end
  uint64_t file_bytes = 0;
};

// Runs one strategy in this process, measuring from a clean start.
LoadMeasurement measure_strategy(const std::string& key, const LoadRun& run);

}  // namespace pthrun::cli
