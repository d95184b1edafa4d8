// Helpers shared by the loader's test suites: fixture paths and manifests, comparing a
// tensor's values with a manifest's exact numbers, temporary folders, and a small pickle
// assembler for hand-built hostile inputs.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "loader/checkpoint.h"
#include "loader/zip_archive.h"
#include "tests/test_util.h"
#include "tests/cli_runner.h"
#include "runtime/convert_element.h"
#include "runtime/file_util.h"
#include "runtime/half.h"
#include "runtime/json.h"
#include "runtime/tensor.h"

namespace pthrun::test {

inline JsonValue manifest(const std::string& path) { return parse_json(read_file(path)); }

// `name` inside a temporary folder (cli_runner.h's TempDir).
inline std::string path_in(const TempDir& dir, const std::string& name) { return dir / name; }

// Writes a new file; an existing one is unlinked first, since truncating a file in place makes
// ext4 flush it to disk (the truncation tests write thousands of files).
inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::filesystem::remove(path);
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// One element as a double, exactly (every f16/bf16/f32 value and every integer the fixtures
// hold is a double).
inline double element(const Tensor& t, int64_t i) {
  const auto* p = static_cast<const char*>(t.data_ptr()) + i * static_cast<int64_t>(t.itemsize());
  const Scalar s = load_element(p, t.dtype());
  return s.is_int ? static_cast<double>(s.i) : s.f;
}

inline int64_t int_element(const Tensor& t, int64_t i) {
  const auto* p = static_cast<const char*>(t.data_ptr()) + i * static_cast<int64_t>(t.itemsize());
  return load_element(p, t.dtype()).i;
}

// Does `actual` hold exactly the manifest's value (numbers, or "nan", "inf", "-inf", "-0.0")?
inline bool same_number(double actual, const JsonValue& expected) {
  if (expected.is_string()) {
    const std::string& s = expected.get_ref<const std::string&>();
    if (s == "nan") return std::isnan(actual);
    if (s == "inf") return actual == INFINITY;
    if (s == "-inf") return actual == -INFINITY;
    if (s == "-0.0") return actual == 0 && std::signbit(actual);
    return false;
  }
  const double e = json_double(expected);
  return actual == e && std::signbit(actual) == std::signbit(e);
}

// Compares a contiguous CPU tensor with a manifest's "values" element by element; integers
// are compared as 64-bit integers (int64 extremes are not doubles).
inline void check_values(const Tensor& t, const JsonValue& values, const std::string& what) {
  REQUIRE_MESSAGE(t.is_contiguous(), what);
  REQUIRE_MESSAGE(static_cast<int64_t>(values.size()) == t.numel(), what);
  int bad = 0;
  for (int64_t i = 0; i < t.numel() && bad < 5; ++i) {
    const JsonValue& e = values[static_cast<std::size_t>(i)];
    bool ok;
    if (is_floating(t.dtype())) ok = same_number(element(t, i), e);
    else ok = int_element(t, i) == json_int(e);
    if (!ok) {
      ++bad;
      FAIL_CHECK(what << ": element " << i << " is " << element(t, i) << ", expected " << json_describe(e));
    }
  }
}

// JSON values equal, numbers by value (so 1 == 1.0 and exact floats compare exactly; integers
// exactly, since int64 extremes are not doubles).
inline bool same_json(const JsonValue& a, const JsonValue& b) {
  if (a.is_number() && b.is_number()) {
    // Parsed integers are unsigned when non-negative, signed when negative.
    if (a.is_number_integer() && b.is_number_integer())
      return a.is_number_unsigned() == b.is_number_unsigned() && a == b;
    return a.get<double>() == b.get<double>();
  }
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!same_json(a[i], b[i])) return false;
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (const auto& [key, value] : a.items()) {
      const JsonValue* other = json_find(b, key);
      if (!other || !same_json(value, *other)) return false;
    }
    return true;
  }
  return a == b;
}

inline std::vector<int64_t> json_ints(const JsonValue& array) {
  std::vector<int64_t> out;
  for (const JsonValue& v : array) out.push_back(json_int(v));
  return out;
}

inline std::vector<int64_t> dims(const Dims& d) { return std::vector<int64_t>(d.begin(), d.end()); }

// The message of the pthrun::Error that `f` throws; fails the test when none is thrown.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL_CHECK("no pthrun::Error was thrown");
  return "";
}

// A zip of deflated records, as re-zipping tools write it: local headers with sizes and CRC,
// no alignment, no descriptors. `level` is zlib's (1 fast, 9 small).
inline void write_deflated_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& records,
                               int level = 9) {
  std::string body, central;
  auto le = [](std::string& s, uint64_t v, int n) {
    for (int k = 0; k < n; ++k) s += static_cast<char>((v >> (8 * k)) & 0xff);
  };
  for (const auto& [name, data] : records) {
    std::string packed(compressBound(static_cast<uLong>(data.size())), '\0');
    z_stream z{};
    REQUIRE(deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(packed.data());
    z.avail_out = static_cast<uInt>(packed.size());
    REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
    packed.resize(z.total_out);
    deflateEnd(&z);
    const auto crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
    const uint64_t offset = body.size();
    for (std::string* h : {&body, &central}) {
      const bool cd = h == &central;
      le(*h, cd ? 0x02014b50 : 0x04034b50, 4);
      if (cd) le(*h, 20, 2);
      le(*h, 20, 2);
      le(*h, 0, 2);  // flags
      le(*h, 8, 2);  // deflated
      le(*h, 0, 4);  // time, date
      le(*h, crc, 4);
      le(*h, packed.size(), 4);
      le(*h, data.size(), 4);
      le(*h, name.size(), 2);
      le(*h, 0, 2);
      if (cd) {
        le(*h, 0, 6);  // comment length, disk, internal attributes
        le(*h, 0, 4);  // external attributes
        le(*h, offset, 4);
      }
      *h += name;
    }
    body += packed;
  }
  std::string end;
  le(end, 0x06054b50, 4);
  le(end, 0, 4);
  le(end, records.size(), 2);
  le(end, records.size(), 2);
  le(end, central.size(), 4);
  le(end, body.size(), 4);
  le(end, 0, 2);
  write_bytes(path, body + central + end);
}

// A copy of a stored zip with every record deflated.
inline void write_deflated_copy(const std::string& from, const std::string& to) {
  const auto zip = ZipArchive::open(MappedFile::open(from));
  std::vector<std::pair<std::string, std::string>> records;
  for (const ZipEntry& e : zip->entries()) records.emplace_back(e.name, zip->read(e, 1 << 30));
  write_deflated_zip(to, records);
}

// Builds pickles opcode by opcode (protocol 2 unless a test says otherwise).
class PickleBuilder {
 public:
  PickleBuilder& raw(const std::string& bytes) {
    out_ += bytes;
    return *this;
  }
  PickleBuilder& op(char code) {
    out_ += code;
    return *this;
  }
  PickleBuilder& proto(int n = 2) { return op('\x80').raw(std::string(1, static_cast<char>(n))); }
  PickleBuilder& global(const std::string& module, const std::string& name) {
    return op('c').raw(module + "\n" + name + "\n");
  }
  PickleBuilder& u32(uint32_t v) {
    for (int k = 0; k < 4; ++k) out_ += static_cast<char>((v >> (8 * k)) & 0xff);
    return *this;
  }
  PickleBuilder& str(const std::string& s) { return op('X').u32(static_cast<uint32_t>(s.size())).raw(s); }
  PickleBuilder& integer(int64_t v) {
    if (v >= 0 && v < 256) return op('K').raw(std::string(1, static_cast<char>(v)));
    if (v >= INT32_MIN && v <= INT32_MAX) return op('J').u32(static_cast<uint32_t>(v));
    op('\x8a').raw(std::string(1, '\x08'));
    for (int k = 0; k < 8; ++k) out_ += static_cast<char>((static_cast<uint64_t>(v) >> (8 * k)) & 0xff);
    return *this;
  }
  PickleBuilder& ints(const std::vector<int64_t>& values) {
    op('(');
    for (int64_t v : values) integer(v);
    return op('t');
  }
  // _rebuild_tensor_v2(('storage', torch.<cls>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())
  PickleBuilder& tensor(const std::string& storage_class, const std::string& key, int64_t numel, int64_t offset,
                        const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(').str("storage").global("torch", storage_class).str(key).str("cpu").integer(numel).op('t').op('Q');
    integer(offset).ints(size).ints(stride).op('\x89');
    global("collections", "OrderedDict").op(')').op('R');
    return op('t').op('R');
  }
  // Starts an OrderedDict state dict; finish with end_state_dict().
  PickleBuilder& begin_state_dict() { return proto().global("collections", "OrderedDict").op(')').op('R').op('('); }
  std::string end_state_dict() { return op('u').op('.').bytes(); }
  std::string bytes() const { return out_; }

 private:
  std::string out_;
};

}  // namespace pthrun::test
