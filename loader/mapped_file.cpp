#include "loader/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "runtime/error.h"

namespace pthrun {

namespace {

// Closes the descriptor when the mapping is made (or on failure); the mapping outlives it.
struct FileDescriptor {
  int fd;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

uint64_t page_size() { return static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)); }

}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  FileDescriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  PTHRUN_CHECK(file.fd >= 0, "cannot open ", path, ": ", std::strerror(errno));
  struct stat info {};
  PTHRUN_CHECK(::fstat(file.fd, &info) == 0, "cannot read ", path, ": ", std::strerror(errno));
  PTHRUN_CHECK(S_ISREG(info.st_mode), path, " is not a regular file");
  std::shared_ptr<MappedFile> mapped(new MappedFile);
  mapped->path_ = path;
  mapped->size_ = static_cast<uint64_t>(info.st_size);
  if (mapped->size_ == 0) return mapped;
  void* data = ::mmap(nullptr, static_cast<std::size_t>(mapped->size_), PROT_READ, MAP_PRIVATE, file.fd, 0);
  PTHRUN_CHECK(data != MAP_FAILED, "cannot map ", path, " (", format_bytes(static_cast<double>(mapped->size_)),
               "): ", std::strerror(errno));
  mapped->data_ = static_cast<const uint8_t*>(data);
  return mapped;
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), static_cast<std::size_t>(size_));
}

void MappedFile::advise_sequential() const {
  if (data_) ::madvise(const_cast<uint8_t*>(data_), static_cast<std::size_t>(size_), MADV_SEQUENTIAL);
}

void MappedFile::advise_willneed(uint64_t offset, uint64_t nbytes) const {
  if (!data_ || offset >= size_ || nbytes == 0) return;
  // madvise wants a page-aligned start.
  const uint64_t start = offset / page_size() * page_size();
  const uint64_t end = std::min(size_, offset + std::min(nbytes, size_ - offset));
  ::madvise(const_cast<uint8_t*>(data_) + start, static_cast<std::size_t>(end - start), MADV_WILLNEED);
}

}  // namespace pthrun
