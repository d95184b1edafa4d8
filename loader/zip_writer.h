// Writes zip archives laid out as torch's PyTorchStreamWriter lays them out, so that
// torch.load reads them: stored records, each record's data 64-byte aligned by an "FB" extra
// field in its local header, CRC and sizes in a data descriptor after the data (the data is
// streamed, never held whole), ZIP64 end records always, ZIP64 fields where a size or an
// offset needs 64 bits.
//
//   ZipWriter zip("model.pth");          // writes model.pth.tmp-..., renamed by finish()
//   zip.add("model/version", "3\n");
//   zip.begin("model/data/0", nbytes);   // then write() exactly nbytes
//   zip.write(data, nbytes);
//   zip.end();
//   zip.finish();
//
// Runs of zero bytes become holes in the file (sparse where the file system allows), and
// their CRC is combined arithmetically, so a huge mostly-zero record costs almost nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/file_util.h"

namespace pthrun {

class ZipWriter {
 public:
  explicit ZipWriter(const std::string& path);

  // A whole record at once.
  void add(const std::string& name, std::string_view bytes);
  // A record of exactly `nbytes`, streamed by write() calls.
  void begin(const std::string& name, uint64_t nbytes);
  void write(const void* data, std::size_t nbytes);
  void end();
  // Writes the central directory and end records and renames the file into place.
  void finish();
  const std::string& path() const { return out_.path(); }

 private:
  struct Record {
    std::string name;
    uint64_t header_offset = 0;
    uint64_t size = 0;
    uint32_t crc = 0;
  };
  void write_zeros(uint64_t nbytes);

  OutputFile out_;
  std::vector<Record> records_;
  bool open_ = false;    // between begin() and end()
  uint64_t written_ = 0;  // bytes of the open record so far
};

}  // namespace pthrun
