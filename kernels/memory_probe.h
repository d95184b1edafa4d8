// How fast the CPU kernels' threads can read memory: the floor that a decode step, which reads
// every weight once, is measured against (bytes of weights / this = the fastest possible step).
//
//   const double bytes_per_second = cpu_read_bandwidth(256 << 20, 5);   // median of 5 passes
//
// Every OpenMP thread the kernels would use (OMP_NUM_THREADS) sums its own contiguous part of
// a buffer much larger than the caches, as the matrix-vector kernels stream their rows.
#pragma once

#include <cstdint>

namespace pthrun::kernels {

// The median over `passes` of (buffer bytes / seconds to read them once); the buffer is
// written once first so that its pages exist.
double cpu_read_bandwidth(int64_t buffer_bytes, int passes);

}  // namespace pthrun::kernels
