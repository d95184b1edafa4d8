#include "runtime/host_memory.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace pthrun {

HostMemory host_memory() {
  HostMemory memory;
  // Read with a raw fd and a stack buffer: the sampler thread must not allocate.
  int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return memory;
  char text[8192];
  ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (n <= 0) return memory;
  text[n] = '\0';
  auto field = [&](const char* key) -> std::size_t {
    const char* at = std::strstr(text, key);
    unsigned long long kib = 0;
    if (at && std::sscanf(at + std::strlen(key), " %llu", &kib) == 1) return static_cast<std::size_t>(kib) * 1024;
    return 0;
  };
  memory.rss = field("VmRSS:");
  memory.peak_rss = field("VmHWM:");
  memory.anon_rss = field("RssAnon:");
  memory.file_rss = field("RssFile:");
  return memory;
}

bool reset_peak_rss() {
  int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return ok;
}

HostMemorySampler::HostMemorySampler(std::chrono::microseconds interval) : interval_(interval) {
  sample();
  thread_ = std::thread([this] {
    while (!stop_.load(std::memory_order_relaxed)) {
      std::this_thread::sleep_for(interval_);
      sample();
    }
  });
}

HostMemorySampler::~HostMemorySampler() {
  stop_ = true;
  thread_.join();
}

void HostMemorySampler::sample() {
  HostMemory now = host_memory();
  auto raise = [](std::atomic<std::size_t>& peak, std::size_t value) {
    std::size_t seen = peak.load();
    while (value > seen && !peak.compare_exchange_weak(seen, value)) {
    }
  };
  raise(peak_anon_, now.anon_rss);
  raise(peak_rss_, now.rss);
  raise(peak_file_, now.file_rss);
}

HostMemory HostMemorySampler::peak() const {
  const_cast<HostMemorySampler*>(this)->sample();
  HostMemory memory = host_memory();
  memory.rss = peak_rss_.load();
  memory.anon_rss = peak_anon_.load();
  memory.file_rss = peak_file_.load();
  return memory;
}

}  // namespace pthrun
