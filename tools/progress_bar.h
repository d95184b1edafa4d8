// A one-line progress bar on stderr for long loads: tensors, bytes and throughput, redrawn at
// most ten times a second. Only on a terminal, so that logs and pipes never see carriage returns.
//
//   ModelOptions options;
//   options.load.on_progress = progress_bar("loading");   // empty when stderr is no terminal
#pragma once

#include <functional>
#include <string>

#include "loader/stream_loader.h"

namespace pthrun::cli {

std::function<void(const LoadProgress&)> progress_bar(std::string label);

}  // namespace pthrun::cli
