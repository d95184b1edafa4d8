// pthrun verify: every record of a checkpoint against its zip CRC-32. Stored records are
// checksummed from the mapping by the CRC workers while the next record is queued; deflated
// ones are inflated through libzip a window at a time.
#include "loader/verify.h"

#include <cstdio>

#include "loader/checkpoint_impl.h"
#include "loader/crc32.h"
#include "runtime/error.h"

namespace pthrun {

namespace {

std::string hex32(uint32_t value) {
  char text[12];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

}  // namespace

const char* checksum_name(Checksum result) {
  switch (result) {
    case Checksum::verified: return "verified";
    case Checksum::not_checksummed: return "not checksummed";
    case Checksum::none_in_format: return "no checksum in the format";
  }
  return "?";
}

Checksum compare_crc(const ErrorContext& where, uint32_t recorded, uint32_t actual) {
  if (actual == recorded) return Checksum::verified;
  if (recorded == 0) return Checksum::not_checksummed;
  throw Error(where, str("corrupt: its bytes have CRC-32 ", hex32(actual), ", the archive records ", hex32(recorded)));
}

std::vector<RecordCheck> verify_checkpoint(const Checkpoint& checkpoint) {
  const Checkpoint::Impl& impl = checkpoint.impl();
  std::vector<RecordCheck> out;
  if (impl.archives.empty()) {  // legacy or safetensors
    out.push_back({impl.path, "", 0, Checksum::none_in_format});
    return out;
  }
  ParallelCrc crc;
  for (const auto& archive : impl.archives) {
    const std::string& file = archive->file().path();
    for (const ZipEntry& entry : archive->entries()) {
      RecordCheck check{file, entry.name, entry.size, Checksum::verified};
      if (entry.stored()) {
        crc.add(archive->file().data() + entry.data_offset, static_cast<std::size_t>(entry.size));
        check.result = compare_crc(archive->where(entry), entry.crc, crc.finish());
        archive->file().release(entry.data_offset, entry.size);
      } else {
        check.result = archive->verify(entry);
      }
      out.push_back(std::move(check));
    }
  }
  return out;
}

}  // namespace pthrun
