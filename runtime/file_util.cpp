#include "runtime/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "runtime/error.h"

namespace pthrun {

namespace {

std::string system_reason() { return std::strerror(errno); }

}  // namespace

std::string read_file(const std::string& path, std::size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  PTHRUN_CHECK_AT(path, fd >= 0, "cannot open: ", system_reason());
  std::string out;
  char buffer[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string reason = system_reason();
      ::close(fd);
      throw Error(path, "cannot read: " + reason);
    }
    if (n == 0) break;
    if (static_cast<std::size_t>(n) > max_bytes - out.size()) {
      ::close(fd);
      throw Error({path}, str("larger than the limit of ", max_bytes, " bytes for this file"));
    }
    out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

OutputFile::OutputFile(std::string path) : path_(std::move(path)) {
  static std::atomic<int> counter{0};
  temp_path_ = str(path_, ".tmp-", ::getpid(), "-", counter++);
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  PTHRUN_CHECK(fd_ >= 0, "cannot create ", path_, ": ", system_reason());
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temp_path_.c_str());
  }
}

void OutputFile::write(const void* data, std::size_t bytes) {
  PTHRUN_CHECK(fd_ >= 0, "cannot write ", path_, ": already committed");
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::write(fd_, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    PTHRUN_CHECK(n > 0, "cannot write ", path_, ": ", n < 0 ? system_reason() : "no progress");
    p += n;
    bytes -= static_cast<std::size_t>(n);
    position_ += static_cast<std::size_t>(n);
  }
}

void OutputFile::skip(std::size_t bytes) {
  PTHRUN_CHECK(fd_ >= 0, "cannot write ", path_, ": already committed");
  position_ += bytes;
  // Extending the file makes the hole; later writes land after it.
  PTHRUN_CHECK(::ftruncate(fd_, static_cast<off_t>(position_)) == 0 &&
                   ::lseek(fd_, static_cast<off_t>(position_), SEEK_SET) >= 0,
               "cannot write ", path_, ": ", system_reason());
}

void OutputFile::commit() {
  PTHRUN_CHECK(fd_ >= 0, "cannot write ", path_, ": already committed");
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    std::string reason = system_reason();
    ::unlink(temp_path_.c_str());
    throw Error(str("cannot write ", path_, ": ", reason));
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    std::string reason = system_reason();
    ::unlink(temp_path_.c_str());
    throw Error(str("cannot write ", path_, ": ", reason));
  }
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  OutputFile out(path);
  out.write(bytes);
  out.commit();
}

}  // namespace pthrun
