// A one-line progress bar on stderr for long loads: tensors, bytes and throughput. Silent
// unless enabled and stderr is a terminal, so logs and pipes never see carriage returns.
//
//   Progress bar("loading", requests.size(), total_bytes, options.progress);
//   bar.advance(0, chunk_bytes);   // after each chunk
//   bar.advance(1, 0);             // after each tensor
//   bar.finish();
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace pthrun {

class Progress {
 public:
  Progress(std::string label, uint64_t tensors, uint64_t bytes, bool enabled);
  void advance(uint64_t tensors, uint64_t bytes);
  // Draws the final state and ends the line.
  void finish();

 private:
  void draw();
  std::string label_;
  uint64_t total_tensors_, total_bytes_;
  uint64_t tensors_ = 0, bytes_ = 0;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace pthrun
