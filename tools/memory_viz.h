// A pthrun allocator trace in the snapshot format of PyTorch's memory visualizer: what
// torch.cuda.memory._dump_snapshot() writes and https://pytorch.org/memory_viz opens.
//
//   write_file_atomically("snapshot.pickle", memory_viz_pickle(trace));
//
// The pickled dict holds "segments" (each with its blocks, state and requested sizes) and
// "device_traces" (alloc, free_requested, free_completed, segment_alloc, segment_free and oom
// events with times in microseconds). PyTorch records a Python stack per event as "frames";
// pthrun gives each event one frame named after its scope label.
#pragma once

#include <string>

#include "runtime/alloc_trace.h"

namespace pthrun::cli {

std::string memory_viz_pickle(const TraceDocument& trace);

}  // namespace pthrun::cli
