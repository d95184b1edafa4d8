#include "loader/progress.h"

#include <unistd.h>

#include <cstdio>

namespace pthrun {

Progress::Progress(std::string label, uint64_t tensors, uint64_t bytes, bool enabled)
    : label_(std::move(label)), total_tensors_(tensors), total_bytes_(bytes),
      enabled_(enabled && ::isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

void Progress::advance(uint64_t tensors, uint64_t bytes) {
  tensors_ += tensors;
  bytes_ += bytes;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw();
}

void Progress::draw() {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double gb = 1e-9;
  constexpr int width = 24;
  const int filled = total_bytes_ ? static_cast<int>(width * static_cast<double>(bytes_) / static_cast<double>(total_bytes_)) : width;
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r%s [%s] %llu/%llu tensors  %.2f/%.2f GB  %.2f GB/s ", label_.c_str(), bar.c_str(),
               static_cast<unsigned long long>(tensors_), static_cast<unsigned long long>(total_tensors_),
               static_cast<double>(bytes_) * gb, static_cast<double>(total_bytes_) * gb,
               seconds > 0 ? static_cast<double>(bytes_) * gb / seconds : 0.0);
  std::fflush(stderr);
}

void Progress::finish() {
  if (!enabled_) return;
  draw();
  std::fputc('\n', stderr);
}

}  // namespace pthrun
