#include "loader/zip_archive.h"

#include <zip.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "loader/crc32.h"
#include "runtime/checked_math.h"
#include "runtime/error.h"
#include "runtime/quote.h"

namespace pthrun {

namespace {

constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEnd = 0x06054b50,
                   kEnd64 = 0x06064b50, kEnd64Locator = 0x07064b50;
constexpr uint64_t kMaxEntries = 1 << 20;
constexpr uint64_t kCheckBytes = 4096;  // compared with libzip at each end of a stored entry
constexpr uint64_t kVerifyWindow = uint64_t(4) << 20;  // a deflated entry is checksummed this much at a time

// Little-endian fields of the mapped file, bounds-checked.
struct Bytes {
  const MappedFile& file;

  void need(uint64_t at, uint64_t n, const char* what) const {
    PTHRUN_CHECK_AT(file.path(), at <= file.size() && n <= file.size() - at, "truncated zip: ", what, " at byte ", at,
                    " runs past the end of the file (", file.size(), " bytes)");
  }
  uint64_t le(uint64_t at, int n) const {
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | file.data()[at + static_cast<uint64_t>(k)];
    return v;
  }
  uint16_t u16(uint64_t at) const { return static_cast<uint16_t>(le(at, 2)); }
  uint32_t u32(uint64_t at) const { return static_cast<uint32_t>(le(at, 4)); }
  uint64_t u64(uint64_t at) const { return le(at, 8); }
};

std::string libzip_message(zip_error_t* error) {
  std::string message = zip_error_strerror(error);
  zip_error_fini(error);
  return message;
}

}  // namespace

std::unique_ptr<ZipArchive> ZipArchive::open(std::shared_ptr<const MappedFile> file) {
  std::unique_ptr<ZipArchive> archive(new ZipArchive(std::move(file)));
  archive->parse_central_directory();
  archive->open_libzip();
  for (const ZipEntry& entry : archive->entries_) archive->cross_check(entry);
  return archive;
}

ZipArchive::~ZipArchive() {
  if (zip_) zip_discard(zip_);
}

ErrorContext ZipArchive::where(const ZipEntry& entry) const {
  return {file_->path(), "entry " + printable(entry.name)};
}

void ZipArchive::parse_central_directory() {
  const Bytes b{*file_};
  const std::string& path = file_->path();
  const uint64_t size = file_->size();
  PTHRUN_CHECK_AT(path, size >= 22, "not a zip archive: ", size, " bytes is too short for an end record");

  // The end record sits in the last 22 + 65535 bytes (its comment may be that long).
  uint64_t end = UINT64_MAX;
  for (uint64_t at = size - 22 + 1; at-- > 0 && size - at <= 22 + 65535;) {
    if (b.u32(at) == kEnd && at + 22 + b.u16(at + 20) <= size) {
      end = at;
      break;
    }
  }
  PTHRUN_CHECK_AT(path, end != UINT64_MAX, "not a zip archive: no end of central directory record (truncated?)");
  PTHRUN_CHECK_AT(path, b.u16(end + 4) == 0 && b.u16(end + 6) == 0, "multi-disk zip archives are not supported");
  uint64_t count = b.u16(end + 10), cd_size = b.u32(end + 12);
  cd_offset_ = b.u32(end + 16);
  uint64_t cd_limit = end;  // the central directory ends before the end records
  if (end >= 20 && b.u32(end - 20) == kEnd64Locator) {
    const uint64_t at = b.u64(end - 20 + 8);
    b.need(at, 56, "the ZIP64 end record");
    PTHRUN_CHECK_AT(path, b.u32(at) == kEnd64 && at <= end - 20, "the ZIP64 locator points at byte ", at,
                    ", where there is no ZIP64 end record");
    PTHRUN_CHECK_AT(path, b.u32(at + 16) == 0 && b.u32(at + 20) == 0, "multi-disk zip archives are not supported");
    count = b.u64(at + 32);
    cd_size = b.u64(at + 40);
    cd_offset_ = b.u64(at + 48);
    cd_limit = at;
  } else {
    PTHRUN_CHECK_AT(path, count != 0xffff && cd_offset_ != 0xffffffff && cd_size != 0xffffffff,
                    "the end record defers to ZIP64 records that are missing");
  }
  PTHRUN_CHECK_AT(path, cd_offset_ <= cd_limit && cd_size <= cd_limit - cd_offset_, "the central directory (", cd_size,
                  " bytes at ", cd_offset_, ") does not end before the end record at ", cd_limit);
  PTHRUN_CHECK_AT(path, count <= kMaxEntries && count <= cd_size / 46, count,
                  " entries cannot fit in a central directory of ", cd_size, " bytes");

  entries_.reserve(static_cast<std::size_t>(count));
  uint64_t at = cd_offset_;
  const uint64_t cd_end = cd_offset_ + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    PTHRUN_CHECK_AT(path, at + 46 <= cd_end && b.u32(at) == kCentralHeader, "central directory entry ", i, " at byte ",
                    at, " is malformed");
    ZipEntry e;
    e.index = i;
    const uint16_t flags = b.u16(at + 8);
    e.method = b.u16(at + 10);
    e.crc = b.u32(at + 16);
    e.compressed_size = b.u32(at + 20);
    e.size = b.u32(at + 24);
    const uint64_t name_len = b.u16(at + 28), extra_len = b.u16(at + 30), comment_len = b.u16(at + 32);
    PTHRUN_CHECK_AT(path, b.u16(at + 34) == 0, "multi-disk zip archives are not supported");
    e.header_offset = b.u32(at + 42);
    const uint64_t next = at + 46 + name_len + extra_len + comment_len;
    PTHRUN_CHECK_AT(path, next <= cd_end, "central directory entry ", i, " runs past the directory");
    e.name.assign(reinterpret_cast<const char*>(file_->data() + at + 46), static_cast<std::size_t>(name_len));
    PTHRUN_CHECK_AT(path, !e.name.empty() && e.name.find('\0') == std::string::npos, "central directory entry ", i,
                    " has an empty or malformed name");
    // ZIP64 extra field: 8-byte values, in this order, for the fields that hold 0xffffffff.
    for (uint64_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
      const uint16_t id = b.u16(x), len = b.u16(x + 2);
      PTHRUN_CHECK_AT(where(e), x + 4 + len <= at + 46 + name_len + extra_len, "malformed extra field");
      if (id == 0x0001) {
        uint64_t y = x + 4;
        auto take = [&](uint64_t& field) {
          if (field != 0xffffffff) return;
          PTHRUN_CHECK_AT(where(e), y + 8 <= x + 4 + len, "ZIP64 extra field too short");
          field = b.u64(y);
          y += 8;
        };
        take(e.size);
        take(e.compressed_size);
        take(e.header_offset);
      }
      x += 4 + len;
    }
    PTHRUN_CHECK_AT(where(e), !(flags & 1), "encrypted entries are not supported");
    PTHRUN_CHECK_AT(where(e), e.method == 0 || e.method == 8, "compression method ", e.method,
                    " is not supported (stored and deflated are)");
    PTHRUN_CHECK_AT(where(e), e.method != 0 || e.size == e.compressed_size, "stored entry with size ", e.size,
                    " but compressed size ", e.compressed_size);

    // The local header: same name; its extra field (torch's "FB" padding) places the data.
    b.need(e.header_offset, 30, "a local header");
    PTHRUN_CHECK_AT(where(e), b.u32(e.header_offset) == kLocalHeader, "no local header at byte ", e.header_offset);
    const uint64_t local_name = b.u16(e.header_offset + 26), local_extra = b.u16(e.header_offset + 28);
    b.need(e.header_offset + 30, local_name, "a local header's name");
    PTHRUN_CHECK_AT(where(e),
                    local_name == name_len && std::memcmp(file_->data() + e.header_offset + 30, e.name.data(),
                                                          static_cast<std::size_t>(name_len)) == 0,
                    "the central directory and the local header at byte ", e.header_offset, " disagree on the name (",
                    in_quotes({reinterpret_cast<const char*>(file_->data() + e.header_offset + 30),
                               static_cast<std::size_t>(local_name)}),
                    ")");
    e.data_offset = e.header_offset + 30 + local_name + local_extra;
    PTHRUN_CHECK_AT(where(e), e.data_offset <= cd_offset_ && e.compressed_size <= cd_offset_ - e.data_offset,
                    "its data (", e.compressed_size, " bytes at ", e.data_offset,
                    ") does not end before the central directory at ", cd_offset_);
    entries_.push_back(std::move(e));
    at = next;
  }

  // No two records may share bytes: sorted by position, each ends before the next begins.
  std::vector<const ZipEntry*> by_offset;
  for (const ZipEntry& e : entries_) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const ZipEntry* a, const ZipEntry* b) { return a->header_offset < b->header_offset; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const ZipEntry& a = *by_offset[i - 1];
    const ZipEntry& c = *by_offset[i];
    PTHRUN_CHECK_AT(path, a.data_offset + a.compressed_size <= c.header_offset, "entries ", printable(a.name), " and ",
                    printable(c.name), " overlap (", printable(c.name), " starts at byte ", c.header_offset,
                    ", inside ", printable(a.name), ", bytes ", a.header_offset, " to ",
                    a.data_offset + a.compressed_size, ")");
  }
  std::unordered_map<std::string_view, const ZipEntry*> names;
  for (const ZipEntry& e : entries_)
    PTHRUN_CHECK_AT(path, names.emplace(e.name, &e).second, "entry ", printable(e.name), " appears twice");
}

void ZipArchive::open_libzip() {
  zip_error_t error;
  zip_error_init(&error);
  // The source serves the mapping without copying it.
  zip_source_t* source = zip_source_buffer_create(file_->data(), file_->size(), 0, &error);
  PTHRUN_CHECK_AT(file_->path(), source, "libzip: ", libzip_message(&error));
  zip_ = zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error);
  if (!zip_) {
    zip_source_free(source);  // a failed open leaves the source to its creator
    throw Error(file_->path(), str("libzip refuses the archive: ", libzip_message(&error)));
  }
  zip_error_fini(&error);
  const zip_int64_t count = zip_get_num_entries(zip_, 0);
  PTHRUN_CHECK_AT(file_->path(), count == static_cast<zip_int64_t>(entries_.size()), "libzip sees ", count,
                  " entries, the central directory ", entries_.size());
}

void ZipArchive::cross_check(const ZipEntry& e) const {
  zip_stat_t st;
  zip_stat_init(&st);
  PTHRUN_CHECK_AT(where(e), zip_stat_index(zip_, e.index, ZIP_FL_ENC_RAW, &st) == 0, "libzip: ", zip_strerror(zip_));
  PTHRUN_CHECK_AT(where(e),
                  st.name && e.name == st.name && st.size == e.size && st.comp_size == e.compressed_size &&
                      st.comp_method == static_cast<int32_t>(e.method) && st.crc == e.crc &&
                      st.encryption_method == ZIP_EM_NONE,
                  "libzip disagrees about the entry (name, sizes, method or CRC)");
  if (!e.stored() || e.size == 0) return;
  // The same bytes through libzip: proves the data offset found here is libzip's too.
  const uint64_t n = std::min(e.size, kCheckBytes);
  std::string buffer(static_cast<std::size_t>(n), '\0');
  Reader head = reader(e);
  head.read(buffer.data(), n);
  PTHRUN_CHECK_AT(where(e), std::memcmp(buffer.data(), file_->data() + e.data_offset, static_cast<std::size_t>(n)) == 0,
                  "libzip reads other bytes than the data offset ", e.data_offset, " holds");
  if (e.size <= kCheckBytes) return;
  Reader tail = reader(e);
  PTHRUN_CHECK_AT(where(e), zip_fseek(tail.file_, static_cast<zip_int64_t>(e.size - n), SEEK_SET) == 0,
                  "libzip cannot seek: ", zip_file_strerror(tail.file_));
  tail.position_ = e.size - n;
  tail.read(buffer.data(), n);
  PTHRUN_CHECK_AT(
      where(e),
      std::memcmp(buffer.data(), file_->data() + e.data_offset + e.size - n, static_cast<std::size_t>(n)) == 0,
      "libzip reads other bytes at the end of the entry than the file holds");
}

const ZipEntry* ZipArchive::find(std::string_view name) const {
  for (const ZipEntry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

std::span<const uint8_t> ZipArchive::stored_bytes(const ZipEntry& entry) const {
  PTHRUN_ASSERT(entry.stored());
  return {file_->data() + entry.data_offset, static_cast<std::size_t>(entry.size)};
}

std::string ZipArchive::read(const ZipEntry& entry, uint64_t max_bytes) const {
  PTHRUN_CHECK_AT(where(entry), entry.size <= max_bytes, entry.size, " bytes exceeds the limit of ", max_bytes);
  if (entry.stored()) {
    std::span<const uint8_t> bytes = stored_bytes(entry);
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  std::string out(static_cast<std::size_t>(entry.size), '\0');
  reader(entry).read(out.data(), entry.size);
  return out;
}

Checksum ZipArchive::check_crc(const ZipEntry& entry, uint32_t actual) const {
  return compare_crc(where(entry), entry.crc, actual);
}

Checksum ZipArchive::verify(const ZipEntry& entry) const {
  if (entry.stored()) return check_crc(entry, crc32_update(0, file_->data() + entry.data_offset, entry.size));
  std::vector<uint8_t> window(static_cast<std::size_t>(std::min<uint64_t>(entry.size, kVerifyWindow)));
  Reader in = reader(entry);
  uint32_t crc = 0;
  for (uint64_t done = 0; done < entry.size;) {
    const uint64_t n = std::min<uint64_t>(window.size(), entry.size - done);
    in.read(window.data(), n);
    crc = crc32_update(crc, window.data(), static_cast<std::size_t>(n));
    done += n;
  }
  return check_crc(entry, crc);
}

ZipArchive::Reader ZipArchive::reader(const ZipEntry& entry) const { return Reader(*this, entry); }

ZipArchive::Reader::Reader(const ZipArchive& archive, const ZipEntry& entry)
    : archive_(&archive), entry_(&entry) {
  file_ = zip_fopen_index(archive.zip_, entry.index, 0);
  PTHRUN_CHECK_AT(archive.where(entry), file_, "libzip cannot open it: ", zip_strerror(archive.zip_));
}

ZipArchive::Reader::Reader(Reader&& other) noexcept
    : archive_(other.archive_), entry_(other.entry_), file_(std::exchange(other.file_, nullptr)),
      position_(other.position_) {}

ZipArchive::Reader::~Reader() {
  if (file_) zip_fclose(file_);
}

void ZipArchive::Reader::read(void* dst, uint64_t n) {
  PTHRUN_CHECK_AT(archive_->where(*entry_), n <= entry_->size - position_, "read of ", n, " bytes at ", position_,
                  " runs past its ", entry_->size, " bytes");
  auto* out = static_cast<uint8_t*>(dst);
  while (n > 0) {
    const zip_int64_t got = zip_fread(file_, out, n);
    PTHRUN_CHECK_AT(archive_->where(*entry_), got > 0, "cannot read at byte ", position_, ": ",
                    got < 0 ? zip_file_strerror(file_) : "unexpected end of data");
    out += got;
    n -= static_cast<uint64_t>(got);
    position_ += static_cast<uint64_t>(got);
  }
}

}  // namespace pthrun
