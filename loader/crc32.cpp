#include "loader/crc32.h"

#include <libdeflate.h>
#include <zlib.h>

#include <algorithm>

namespace pthrun {

namespace {

// Pieces a worker takes at a time: large enough that queueing costs nothing, small enough
// that the workers keep up with a copy close behind them.
constexpr std::size_t kPieceBytes = std::size_t(4) << 20;
constexpr std::size_t kInlineBytes = std::size_t(256) << 10;

}  // namespace

uint32_t crc32_update(uint32_t crc, const void* data, std::size_t bytes) { return libdeflate_crc32(crc, data, bytes); }

uint32_t crc32_zlib(uint32_t crc, const void* data, std::size_t bytes) {
  const auto* p = static_cast<const Bytef*>(data);
  uLong out = crc;
  for (std::size_t done = 0; done < bytes;) {  // zlib takes 32-bit lengths
    const auto n = static_cast<uInt>(std::min<std::size_t>(bytes - done, uInt(1) << 30));
    out = ::crc32(out, p + done, n);
    done += n;
  }
  return static_cast<uint32_t>(out);
}

uint32_t crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t bytes_b) {
  return static_cast<uint32_t>(::crc32_combine(crc_a, crc_b, static_cast<z_off_t>(bytes_b)));
}

ParallelCrc::ParallelCrc(unsigned workers) {
  if (workers == 0) workers = std::clamp(std::thread::hardware_concurrency(), 2u, 9u) - 1;
  for (unsigned i = 0; i < workers; ++i) workers_.emplace_back([this] { work(); });
}

ParallelCrc::~ParallelCrc() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ParallelCrc::add(const void* data, std::size_t bytes) {
  const auto* p = static_cast<const uint8_t*>(data);
  std::unique_lock<std::mutex> lock(mutex_);
  // Small runs are checksummed here and now, while the caller's copy left them in the cache:
  // handing them over would cost more than the CRC.
  if (bytes <= kInlineBytes) {
    lock.unlock();
    const uint32_t crc = crc32_update(0, p, bytes);
    lock.lock();
    pieces_.push_back({p, bytes, crc, true});
    return;
  }
  for (std::size_t at = 0; at < bytes; at += kPieceBytes) pieces_.push_back({p + at, std::min(kPieceBytes, bytes - at)});
  lock.unlock();
  wake_.notify_all();
}

// The next piece nobody has taken; nullptr when none. Called with the mutex held.
ParallelCrc::Piece* ParallelCrc::take() {
  while (next_ < pieces_.size() && pieces_[next_].done) ++next_;
  return next_ < pieces_.size() ? &pieces_[next_++] : nullptr;
}

void ParallelCrc::compute(Piece& piece, std::unique_lock<std::mutex>& lock) {
  lock.unlock();
  const uint32_t crc = crc32_update(0, piece.data, piece.bytes);
  lock.lock();
  piece.crc = crc;
  piece.done = true;
  done_.notify_all();
}

uint32_t ParallelCrc::finish() {
  std::unique_lock<std::mutex> lock(mutex_);
  // The caller checksums what no worker has taken yet rather than wait for them.
  while (Piece* piece = take()) compute(*piece, lock);
  done_.wait(lock, [&] { return std::all_of(pieces_.begin(), pieces_.end(), [](const Piece& p) { return p.done; }); });
  uint32_t crc = 0;
  for (const Piece& piece : pieces_) crc = crc32_combine(crc, piece.crc, piece.bytes);
  pieces_.clear();
  next_ = 0;
  return crc;
}

void ParallelCrc::work() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    Piece* piece = nullptr;
    wake_.wait(lock, [&] { return stopping_ || (piece = take()) != nullptr; });
    if (stopping_) return;
    compute(*piece, lock);  // deque: the piece stays where it is as others are added
  }
}

}  // namespace pthrun
