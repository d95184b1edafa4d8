#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "runtime/checked_math.h"
#include "runtime/memory_backend.h"

namespace pthrun {

// Buffers of 2 MiB and more (weights, KV caches) start on a 2 MiB boundary and ask for
// transparent huge pages, which Debian's kernels give to madvise()d memory only: a decode step
// reads every weight once, and on 4 KiB pages each page of it costs a TLB miss (f32 decode
// measured 6% faster, `kernel-bench --device cpu --chain`, 10 interleaved runs). Where the
// kernel has no huge pages, madvise fails and the buffer is an ordinary one.
void* HostBackend::allocate(std::size_t bytes) {
  constexpr std::size_t kHugePage = std::size_t{2} << 20;
  if (bytes >= kHugePage) {
    void* p = nullptr;
    if (posix_memalign(&p, kHugePage, bytes) != 0) return nullptr;
    ::madvise(p, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);
    return p;
  }
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
