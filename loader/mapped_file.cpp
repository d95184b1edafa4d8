#include "loader/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <mutex>
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

// The mappings the SIGBUS handler knows, in a fixed table of atomics: a signal handler may not
// take locks or allocate.
struct MappingSlot {
  std::atomic<uintptr_t> start{0};
  std::atomic<uint64_t> size{0};
  std::atomic<bool> truncated{false};
};
constexpr int kSlots = 4096;
MappingSlot slots[kSlots];
uintptr_t page_bytes = 4096;
struct sigaction previous_sigbus;

void on_sigbus(int signal, siginfo_t* info, void* context) {
  const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
  for (MappingSlot& slot : slots) {
    const uintptr_t start = slot.start.load();
    if (start == 0 || address < start || address >= start + slot.size.load()) continue;
    // A page of zeros over the lost one: the interrupted read completes, and check_intact()
    // reports it. mmap is a plain system call, safe here.
    void* page = reinterpret_cast<void*>(address / page_bytes * page_bytes);
    if (::mmap(page, page_bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
      slot.truncated.store(true);
      return;
    }
    break;
  }
  // Not ours (or not repairable): whatever would have happened without us.
  if (previous_sigbus.sa_flags & SA_SIGINFO) {
    previous_sigbus.sa_sigaction(signal, info, context);
  } else if (previous_sigbus.sa_handler != SIG_DFL && previous_sigbus.sa_handler != SIG_IGN) {
    previous_sigbus.sa_handler(signal);
  } else {
    ::signal(SIGBUS, SIG_DFL);
    ::raise(SIGBUS);
  }
}

int register_mapping(const void* data, uint64_t size) {
  static std::once_flag installed;
  std::call_once(installed, [] {
    page_bytes = static_cast<uintptr_t>(page_size());
    struct sigaction action {};
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &previous_sigbus);
  });
  for (int i = 0; i < kSlots; ++i) {
    uintptr_t expected = 0;
    if (slots[i].start.compare_exchange_strong(expected, reinterpret_cast<uintptr_t>(data))) {
      slots[i].truncated.store(false);
      slots[i].size.store(size);
      return i;
    }
  }
  return -1;  // more files mapped at once than the table holds: those go unprotected
}

}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  FileDescriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  PTHRUN_CHECK_AT(path, file.fd >= 0, "cannot open: ", std::strerror(errno));
  struct stat info {};
  PTHRUN_CHECK_AT(path, ::fstat(file.fd, &info) == 0, "cannot read: ", std::strerror(errno));
  PTHRUN_CHECK_AT(path, S_ISREG(info.st_mode), "not a regular file");
  std::shared_ptr<MappedFile> mapped(new MappedFile);
  mapped->path_ = path;
  mapped->size_ = static_cast<uint64_t>(info.st_size);
  if (mapped->size_ == 0) return mapped;
  void* data = ::mmap(nullptr, static_cast<std::size_t>(mapped->size_), PROT_READ, MAP_PRIVATE, file.fd, 0);
  PTHRUN_CHECK_AT(path, data != MAP_FAILED, "cannot map its ", format_bytes(static_cast<double>(mapped->size_)), ": ",
                  std::strerror(errno));
  mapped->data_ = static_cast<const uint8_t*>(data);
  mapped->slot_ = register_mapping(data, mapped->size_);
  return mapped;
}

MappedFile::~MappedFile() {
  if (slot_ >= 0) {
    slots[slot_].size.store(0);
    slots[slot_].start.store(0);
  }
  if (data_) ::munmap(const_cast<uint8_t*>(data_), static_cast<std::size_t>(size_));
}

void MappedFile::check_intact() const {
  if (slot_ < 0 || !slots[slot_].truncated.load()) return;
  struct stat info {};
  const bool exists = ::stat(path_.c_str(), &info) == 0;
  throw Error(path_, str("the file was truncated while pthrun was reading it: it had ", size_, " bytes, it has ",
                         exists ? std::to_string(info.st_size) : std::string("none (it is gone)"), " now"));
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

void MappedFile::release(uint64_t offset, uint64_t nbytes) const {
  if (!data_ || offset >= size_ || nbytes == 0) return;
  // Only pages the range covers whole: a neighbouring record may still need the others.
  const uint64_t start = (offset + page_size() - 1) / page_size() * page_size();
  const uint64_t end = std::min(size_, offset + std::min(nbytes, size_ - offset)) / page_size() * page_size();
  // The mapping is read-only and never written, so dropping loses nothing.
  if (end > start) ::madvise(const_cast<uint8_t*>(data_) + start, static_cast<std::size_t>(end - start), MADV_DONTNEED);
}

}  // namespace pthrun
