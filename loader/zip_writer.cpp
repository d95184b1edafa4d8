#include "loader/zip_writer.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "runtime/error.h"

namespace pthrun {

namespace {

constexpr uint64_t kMax32 = 0xffffffff;
constexpr uint64_t kAlignment = 64;
constexpr std::size_t kZeroBlock = 1 << 20;  // zero runs at least this long become holes

// Little-endian field encoder.
struct Fields {
  std::string bytes;
  Fields& u16(uint64_t v) { return put(v, 2); }
  Fields& u32(uint64_t v) { return put(v, 4); }
  Fields& u64(uint64_t v) { return put(v, 8); }
  Fields& raw(std::string_view s) {
    bytes += s;
    return *this;
  }
  Fields& put(uint64_t v, int n) {
    for (int k = 0; k < n; ++k) bytes += static_cast<char>((v >> (8 * k)) & 0xff);
    return *this;
  }
};

const std::vector<uint8_t>& zero_block() {
  static const std::vector<uint8_t> zeros(kZeroBlock, 0);
  return zeros;
}

bool all_zero(const uint8_t* p, std::size_t n) {
  return std::memcmp(p, zero_block().data(), n) == 0;
}

uint32_t crc_update(uint32_t crc, const void* data, std::size_t n) {
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {  // zlib takes 32-bit lengths
    const auto step = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
    crc = static_cast<uint32_t>(crc32(crc, p, step));
    p += step;
    n -= step;
  }
  return crc;
}

}  // namespace

ZipWriter::ZipWriter(const std::string& path) : out_(path) {}

void ZipWriter::add(const std::string& name, std::string_view bytes) {
  begin(name, bytes.size());
  write(bytes.data(), bytes.size());
  end();
}

void ZipWriter::begin(const std::string& name, uint64_t nbytes) {
  PTHRUN_ASSERT(!open_);
  PTHRUN_CHECK(name.size() < 0xffff, out_.path(), ": zip entry name of ", name.size(), " bytes");
  Record r;
  r.name = name;
  r.header_offset = out_.position();
  r.size = nbytes;
  r.crc = static_cast<uint32_t>(crc32(0, nullptr, 0));
  // Pad with an "FB" extra field so that the data starts on a 64-byte boundary.
  const uint64_t unpadded = r.header_offset + 30 + name.size() + 4;
  const uint64_t pad = (kAlignment - unpadded % kAlignment) % kAlignment;
  Fields h;
  h.u32(0x04034b50).u16(0).u16(nbytes ? 0x0808 : 0x0800).u16(0).u16(0).u16(0);
  h.u32(0).u32(0).u32(0).u16(name.size()).u16(4 + pad).raw(name);
  h.u16(0x4246).u16(pad).raw(std::string(static_cast<std::size_t>(pad), 'Z'));
  out_.write(h.bytes);
  records_.push_back(std::move(r));
  open_ = true;
  written_ = 0;
}

void ZipWriter::write(const void* data, std::size_t nbytes) {
  PTHRUN_ASSERT(open_);
  Record& r = records_.back();
  PTHRUN_CHECK(nbytes <= r.size - written_, out_.path(), ": entry ", r.name, " is declared as ", r.size,
               " bytes, and more is written");
  const auto* p = static_cast<const uint8_t*>(data);
  while (nbytes > 0) {
    const std::size_t n = std::min(nbytes, kZeroBlock);
    if (n == kZeroBlock && all_zero(p, n)) {
      write_zeros(n);
    } else {
      r.crc = crc_update(r.crc, p, n);
      out_.write(p, n);
    }
    p += n;
    nbytes -= n;
    written_ += n;
  }
}

void ZipWriter::write_zeros(uint64_t nbytes) {
  Record& r = records_.back();
  static const uint32_t block_crc = crc_update(static_cast<uint32_t>(crc32(0, nullptr, 0)), zero_block().data(), kZeroBlock);
  for (uint64_t left = nbytes; left > 0;) {
    const uint64_t n = std::min<uint64_t>(left, kZeroBlock);
    const uint32_t piece = n == kZeroBlock ? block_crc : crc_update(static_cast<uint32_t>(crc32(0, nullptr, 0)), zero_block().data(), n);
    r.crc = static_cast<uint32_t>(crc32_combine(r.crc, piece, static_cast<z_off_t>(n)));
    left -= n;
  }
  out_.skip(static_cast<std::size_t>(nbytes));
}

void ZipWriter::end() {
  PTHRUN_ASSERT(open_);
  const Record& r = records_.back();
  PTHRUN_CHECK(written_ == r.size, out_.path(), ": entry ", r.name, " is declared as ", r.size, " bytes, ",
               written_, " were written");
  open_ = false;
  if (r.size == 0) return;  // empty records have no descriptor
  Fields d;
  d.u32(0x08074b50).u32(r.crc);
  if (r.size >= kMax32 || r.header_offset >= kMax32) d.u64(r.size).u64(r.size);
  else d.u32(r.size).u32(r.size);
  out_.write(d.bytes);
}

void ZipWriter::finish() {
  PTHRUN_ASSERT(!open_);
  const uint64_t cd_offset = out_.position();
  Fields cd;
  for (const Record& r : records_) {
    Fields zip64;
    if (r.size >= kMax32) zip64.u64(r.size).u64(r.size);
    if (r.header_offset >= kMax32) zip64.u64(r.header_offset);
    Fields extra;
    if (!zip64.bytes.empty()) extra.u16(0x0001).u16(zip64.bytes.size()).raw(zip64.bytes);
    const uint64_t size32 = std::min(r.size, kMax32), offset32 = std::min(r.header_offset, kMax32);
    cd.u32(0x02014b50).u16(0).u16(0).u16(r.size ? 0x0808 : 0x0800).u16(0).u16(0).u16(0);
    cd.u32(r.crc).u32(size32).u32(size32).u16(r.name.size()).u16(extra.bytes.size()).u16(0);
    cd.u16(0).u16(0).u32(0).u32(offset32).raw(r.name).raw(extra.bytes);
  }
  out_.write(cd.bytes);
  const uint64_t cd_size = cd.bytes.size(), end64 = out_.position(), count = records_.size();
  Fields end;
  end.u32(0x06064b50).u64(44).u16(798).u16(45).u32(0).u32(0).u64(count).u64(count).u64(cd_size).u64(cd_offset);
  end.u32(0x07064b50).u32(0).u64(end64).u32(1);
  end.u32(0x06054b50).u16(0).u16(0).u16(std::min<uint64_t>(count, 0xffff)).u16(std::min<uint64_t>(count, 0xffff));
  end.u32(std::min(cd_size, kMax32)).u32(std::min(cd_offset, kMax32)).u16(0);
  out_.write(end.bytes);
  out_.commit();
}

}  // namespace pthrun
