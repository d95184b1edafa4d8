// A whole file mapped read-only into memory: the loader points into it instead of reading.
//
//   auto file = MappedFile::open("model.pth");       // shared: storages may borrow from it
//   std::span<const uint8_t> bytes = file->bytes();
//   file->advise_sequential();                       // before streaming it front to back
//
// The mapping lives as long as the last shared_ptr to it, so a CPU tensor that borrows bytes
// from a checkpoint (Storage::borrow) keeps the mapping alive. An empty file maps to an empty
// span (mmap refuses zero lengths).
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

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace pthrun
