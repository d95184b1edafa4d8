#include "tools/progress_bar.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

namespace pthrun::cli {

namespace {

void draw(const std::string& label, const LoadProgress& p, double seconds) {
  constexpr int kWidth = 24;
  const double gb = 1e-9;
  const double done = p.total_bytes ? static_cast<double>(p.bytes) / static_cast<double>(p.total_bytes) : 1.0;
  std::string bar(static_cast<std::size_t>(kWidth * done), '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "\r%s [%s] %llu/%llu tensors  %.2f/%.2f GB  %.2f GB/s ", label.c_str(), bar.c_str(),
               static_cast<unsigned long long>(p.tensors), static_cast<unsigned long long>(p.total_tensors),
               static_cast<double>(p.bytes) * gb, static_cast<double>(p.total_bytes) * gb,
               seconds > 0 ? static_cast<double>(p.bytes) * gb / seconds : 0.0);
  if (p.done) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace

std::function<void(const LoadProgress&)> progress_bar(std::string label) {
  if (!::isatty(STDERR_FILENO)) return {};
  using Clock = std::chrono::steady_clock;
  struct State {
    std::string label;
    Clock::time_point start = Clock::now(), last_draw = start;
  };
  auto state = std::make_shared<State>();
  state->label = std::move(label);
  return [state](const LoadProgress& p) {
    const auto now = Clock::now();
    if (!p.done && now - state->last_draw < std::chrono::milliseconds(100)) return;
    state->last_draw = now;
    draw(state->label, p, std::chrono::duration<double>(now - state->start).count());
  };
}

}  // namespace pthrun::cli
