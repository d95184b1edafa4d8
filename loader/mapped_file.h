// A whole file mapped read-only into memory: the loader points into it instead of reading.
//
//   auto file = MappedFile::open("model.pth");       // shared: storages may borrow from it
//   std::span<const uint8_t> bytes = file->bytes();
//   file->advise_sequential();                       // before streaming it front to back
//
// The mapping lives as long as the last shared_ptr to it, so a CPU tensor that borrows bytes
// from a checkpoint (Storage::borrow) keeps the mapping alive. An empty file maps to an empty
// span (mmap refuses zero lengths).
//
// A file truncated while mapped makes reading its lost pages raise SIGBUS, which would kill
// the process. pthrun's SIGBUS handler instead maps a page of zeros there, so the read goes
// on, and marks the mapping; check_intact() then throws an error naming the file. The loader
// calls it after every chunk it copies and after parsing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace pthrun {

class MappedFile {
 public:
  // Throws pthrun::Error naming the file and the system's reason.
  static std::shared_ptr<const MappedFile> open(const std::string& path);

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, static_cast<std::size_t>(size_)}; }

  // Hints for the kernel's read-ahead; failures are harmless and ignored.
  void advise_sequential() const;
  void advise_willneed(uint64_t offset, uint64_t nbytes) const;
  // Drops the whole pages inside [offset, offset + nbytes) from this process's resident set:
  // a streamed range that has been copied out need not count against its memory. The pages
  // stay in the page cache, and a later access (a view still pointing there) maps them again.
  void release(uint64_t offset, uint64_t nbytes) const;
  // Throws pthrun::Error when the file was truncated under the mapping (see above).
  void check_intact() const;

 private:
  MappedFile() = default;
  int slot_ = -1;  // in the table the SIGBUS handler consults; -1 when the table was full
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace pthrun
