// CRC-32 as zip records it, fast: libdeflate's (PCLMULQDQ folding, 3.5x zlib's here, README:
// Verifying records), and a pool that checksums pieces of a record on worker threads while the
// caller goes on, the pieces joined in order with zlib's crc32_combine.
//
//   ParallelCrc crc;                         // workers: the cores but one
//   crc.add(chunk, n);  ... copy chunk ...   // queued; computed while the copy runs
//   uint32_t value = crc.finish();           // waits, joins, and starts a new record
//
// The loader hands each chunk to the pool right after copying it (the bytes are still in the
// cache), so verifying a load reads the file once and costs little wall time (README: verify).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace pthrun {

uint32_t crc32_update(uint32_t crc, const void* data, std::size_t bytes);
// The same by zlib, for comparing the two (pthrun stream-bench --verify).
uint32_t crc32_zlib(uint32_t crc, const void* data, std::size_t bytes);
// The CRC of A then B from CRC(A), CRC(B) and B's length.
uint32_t crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t bytes_b);

class ParallelCrc {
 public:
  // workers = 0: the machine's cores but one, at least one, at most 8.
  explicit ParallelCrc(unsigned workers = 0);
  ~ParallelCrc();
  ParallelCrc(const ParallelCrc&) = delete;
  ParallelCrc& operator=(const ParallelCrc&) = delete;

  // Queues the next bytes of the current record; they must stay readable until finish().
  void add(const void* data, std::size_t bytes);
  // Waits for the current record's pieces and returns its CRC; the next add() starts another.
  uint32_t finish();

 private:
  struct Piece {
    const uint8_t* data;
    std::size_t bytes;
    uint32_t crc = 0;
    bool done = false;
  };
  Piece* take();
  void compute(Piece& piece, std::unique_lock<std::mutex>& lock);
  void work();

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::deque<Piece> pieces_;  // the current record's, in order
  std::size_t next_ = 0;      // the first piece no worker has taken
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace pthrun
