#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "runtime/checked_math.h"
#include "runtime/memory_backend.h"

namespace pthrun {

void* HostBackend::allocate(std::size_t bytes) {
  // aligned_alloc wants a size that is a multiple of the alignment.
  return std::aligned_alloc(256, round_up(bytes, 256));
}

void HostBackend::deallocate(void* ptr, std::size_t) { std::free(ptr); }

std::size_t HostBackend::capacity() const {
  return static_cast<std::size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

std::size_t HostBackend::free_memory() const {
  // MemAvailable, in KiB: what the kernel could hand out without swapping.
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::size_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return static_cast<std::size_t>(sysconf(_SC_AVPHYS_PAGES)) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace pthrun
