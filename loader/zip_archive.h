// A zip archive read over a memory-mapped file, with libzip as the second opinion.
//
//   auto zip = ZipArchive::open(MappedFile::open("model.pth"));
//   const ZipEntry* pkl = zip->find("archive/data.pkl");
//   std::span<const uint8_t> bytes = zip->stored_bytes(*pkl);   // no copy
//
// libzip has no API for an entry's data offset, which is what lets the loader point into the
// mapping instead of copying, so the central directory is parsed here too (ZIP64 included)
// and every entry is cross-checked against libzip's view of the same bytes: name, sizes,
// method and CRC from zip_stat_index, and the first and last 4 KiB of each stored entry read
// through zip_fread. Records must not overlap and must lie before the central directory.
// Compressed (deflated) entries are read through libzip, reading exactly their size: libzip
// checks the CRC when a read reaches the end, which fails on the CRC-0 files torch >= 2.6 can
// write, so a reader never asks for more than the size. CRCs are checked here instead
// (check_crc), where a CRC of 0 means "not checksummed".
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loader/mapped_file.h"
#include "loader/verify.h"
#include "runtime/error.h"

struct zip;
struct zip_file;

namespace pthrun {

struct ZipEntry {
  std::string name;
  uint64_t index = 0;          // position in the central directory (libzip's index)
  uint64_t header_offset = 0;  // the local header
  uint64_t data_offset = 0;    // the first byte of the stored or compressed data
  uint64_t size = 0;           // uncompressed bytes
  uint64_t compressed_size = 0;
  uint16_t method = 0;         // 0 stored, 8 deflated
  uint32_t crc = 0;
  bool stored() const { return method == 0; }
};

class ZipArchive {
 public:
  // Throws pthrun::Error naming the file (and the entry) when the archive is malformed.
  static std::unique_ptr<ZipArchive> open(std::shared_ptr<const MappedFile> file);
  ~ZipArchive();
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  const MappedFile& file() const { return *file_; }
  const std::shared_ptr<const MappedFile>& shared_file() const { return file_; }
  // In central-directory order.
  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(std::string_view name) const;
  // Where the central directory starts: every record lies before it.
  uint64_t central_directory_offset() const { return cd_offset_; }

  // A stored entry's bytes, inside the mapping.
  std::span<const uint8_t> stored_bytes(const ZipEntry& entry) const;
  // A whole entry, stored or compressed, copied out; refuses entries over `max_bytes`.
  std::string read(const ZipEntry& entry, uint64_t max_bytes) const;

  // Compares the CRC the archive records for an entry with `actual`, that of its bytes:
  // verified; not checksummed when the archive records 0 for a non-empty entry (torch >= 2.6
  // with CRCs off); any other difference throws, naming the entry.
  Checksum check_crc(const ZipEntry& entry, uint32_t actual) const;
  // Reads an entry whole (a stored one from the mapping, a deflated one through libzip, one
  // window at a time) and checks its CRC.
  Checksum verify(const ZipEntry& entry) const;

  // Reads an entry's uncompressed bytes front to back through libzip.
  class Reader {
   public:
    Reader(Reader&& other) noexcept;
    Reader& operator=(Reader&&) = delete;
    ~Reader();
    // Reads exactly n bytes (never past the entry's size); throws on a short read.
    void read(void* dst, uint64_t n);
    uint64_t position() const { return position_; }

   private:
    friend class ZipArchive;
    Reader(const ZipArchive& archive, const ZipEntry& entry);
    const ZipArchive* archive_;
    const ZipEntry* entry_;
    zip_file* file_ = nullptr;
    uint64_t position_ = 0;
  };
  Reader reader(const ZipEntry& entry) const;

  // {"model.pth", "entry archive/data/0"}: what errors about one entry name.
  ErrorContext where(const ZipEntry& entry) const;

 private:
  explicit ZipArchive(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {}
  void parse_central_directory();
  void open_libzip();
  void cross_check(const ZipEntry& entry) const;

  std::shared_ptr<const MappedFile> file_;
  std::vector<ZipEntry> entries_;
  uint64_t cd_offset_ = 0;
  zip* zip_ = nullptr;  // libzip's handle, read-only; discarded (never written) on destruction
};

}  // namespace pthrun
