// libFuzzer target: a whole file through Checkpoint::open (format detection, zip parsing
// cross-checked with libzip, CRCs, the legacy stream, safetensors), then every tensor read back
// (verifying CRCs on every other input), the state dict looked for, and the names and plain
// values written as `inspect` writes them. The bytes go to a memfd, opened by its /proc path,
// so the loader maps it like any file.
//
// Opening checks the CRC-32 of every metadata record, which a mutation would almost always
// break: the stored records' CRCs are put right before each run (fix_crcs), so that mutations
// reach the pickle and the checks behind it. Every message must be one clean line and the JSON
// must parse back (fuzz_checks.h). Built and run by tools/fuzz.sh.
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_checks.h"
#include "loader/checkpoint.h"
#include "loader/stream_loader.h"
#include "runtime/error.h"
#include "runtime/json.h"
#include "runtime/quote.h"

namespace {

// One memfd for the whole run, rewritten for each input.
int input_fd() {
  static const int fd = ::memfd_create("pthrun-fuzz", 0);
  return fd;
}

uint64_t le(const std::vector<uint8_t>& b, std::size_t at, int n) {
  uint64_t v = 0;
  for (int k = n - 1; k >= 0; --k) v = (v << 8) | b[at + static_cast<std::size_t>(k)];
  return v;
}

void put32(std::vector<uint8_t>& b, std::size_t at, uint32_t v) {
  for (int k = 0; k < 4; ++k) b[at + static_cast<std::size_t>(k)] = static_cast<uint8_t>(v >> (8 * k));
}

// Writes the CRC of each stored entry's bytes into its central and local headers (plain zips;
// anything malformed is left for the loader to refuse).
void fix_crcs(std::vector<uint8_t>& b) {
  if (b.size() < 22) return;
  std::size_t end = b.size() - 22;
  while (end > 0 && le(b, end, 4) != 0x06054b50 && b.size() - end < 22 + 65535) --end;
  if (le(b, end, 4) != 0x06054b50) return;
  std::size_t at = le(b, end + 16, 4);
  for (uint64_t i = le(b, end + 10, 2); i > 0 && at + 46 <= b.size() && le(b, at, 4) == 0x02014b50; --i) {
    const std::size_t local = le(b, at + 42, 4), size = le(b, at + 24, 4);
    if (le(b, at + 10, 2) == 0 && local + 30 <= b.size() && le(b, local, 4) == 0x04034b50) {
      const std::size_t data = local + 30 + le(b, local + 26, 2) + le(b, local + 28, 2);
      if (data <= b.size() && size <= b.size() - data) {
        const auto crc = static_cast<uint32_t>(crc32(0, b.data() + data, static_cast<uInt>(size)));
        put32(b, at + 16, crc);
        put32(b, local + 14, crc);
      }
    }
    at += 46 + le(b, at + 28, 2) + le(b, at + 30, 2) + le(b, at + 32, 2);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  fix_crcs(bytes);
  const int fd = input_fd();
  if (fd < 0 || ::ftruncate(fd, 0) != 0 || ::pwrite(fd, bytes.data(), size, 0) != static_cast<ssize_t>(size)) return 0;
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    const pthrun::Checkpoint ckpt = pthrun::Checkpoint::open(path);
    std::vector<pthrun::LoadRequest> requests;
    pthrun::JsonWriter out;
    out.begin_object();
    for (const pthrun::TensorInfo& t : ckpt.tensors()) {
      pthrun::fuzz::require_clean_line(pthrun::printable(t.name, 1024));
      out.key(t.name).value(t.storage_key);
      // Zero strides can describe huge views of tiny files: read the small ones only.
      if (t.nbytes() > (1u << 20)) continue;
      requests.push_back({t, pthrun::Tensor::empty(t.shape, t.dtype)});
    }
    for (const auto& [name, value] : pthrun::plain_values(ckpt.root())) {
      out.key(name);
      pthrun::write_value_json(out, *value);
    }
    pthrun::fuzz::require_valid_json(out.end_object().text());
    pthrun::LoadOptions options;
    options.staging_bytes = 64;  // many chunks and windows
    options.verify = size % 2 == 1;
    pthrun::load_tensors(ckpt, requests, options);
    (void)ckpt.state_dict();
  } catch (const pthrun::Error& e) {
    pthrun::fuzz::require_clean_line(e.what());
  }
  return 0;
}
