// Whole-file reads and output files that never leave a partial result behind.
//
//   OutputFile out("logits.npy");   // writes "logits.npy.tmp-<pid>-<n>" in the same folder
//   out.write(header.data(), header.size());
//   out.commit();                   // renamed to logits.npy only now; without commit, removed
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pthrun {

// Throws pthrun::Error naming the file and the system's reason, or the limit when the file
// holds more than max_bytes (checked while reading: a huge or endless file is not read whole).
std::string read_file(const std::string& path, std::size_t max_bytes = SIZE_MAX);

class OutputFile {
 public:
  explicit OutputFile(std::string path);
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile();

  // Throws pthrun::Error naming the file, e.g. on a full disk.
  void write(const void* data, std::size_t bytes);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  // Leaves a hole of `bytes` zero bytes (sparse where the file system allows).
  void skip(std::size_t bytes);
  std::size_t position() const { return position_; }
  // Flushes, closes and renames the file into place.
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  std::size_t position_ = 0;
};

void write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace pthrun
