// The legacy stream torch < 1.6 wrote (and torch.save(..., _use_new_zipfile_serialization=False)
// still writes): pickles back to back, then the raw storages.
//
//   1. magic number (a 10-byte LONG1)     4. the object; storages by persistent id
//   2. protocol version 1001              5. the list of storage keys, in data order
//   3. sys_info {little_endian, ...}      6. per key: int64 element count, then the elements
//
// The data section must account for every byte up to the end of the file, and each count
// must equal the element count its persistent id declared. The pickles' limits apply to each
// pickle, never to the data after it: a legacy file may be of any size.
#include <cstring>
#include <unordered_map>

#include "loader/checkpoint_impl.h"
#include "loader/pickle.h"
#include "runtime/checked_math.h"
#include "runtime/error.h"
#include "runtime/quote.h"

namespace pthrun {

namespace {

// PROTO 2, LONG1 of 10 bytes (0x1950a86a20f9469cfc6c), STOP.
constexpr uint8_t kMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20,
                              0x6a, 0xa8, 0x50, 0x19, 0x2e};

}  // namespace

bool is_legacy_stream(const MappedFile& file) {
  return file.size() >= sizeof kMagic && std::memcmp(file.data(), kMagic, sizeof kMagic) == 0;
}

Part read_legacy_checkpoint(Checkpoint::Impl& impl, std::shared_ptr<const MappedFile> file,
                            const std::string& key_prefix) {
  const std::string& path = file->path();
  PTHRUN_CHECK_AT(path, is_legacy_stream(*file), "not a legacy torch stream (no magic number)");
  const std::span<const uint8_t> all = file->bytes();
  uint64_t pos = sizeof kMagic;
  auto next = [&](const char* what, PersistentIds ids) {
    Unpickled u =
        unpickle(all.subspan(static_cast<std::size_t>(pos)), {path, str("legacy ", what, " at byte ", pos)}, ids);
    pos += u.end;
    impl.metadata_bytes += u.end;
    return u;
  };

  const Unpickled version = next("protocol version", PersistentIds::none);
  PTHRUN_CHECK_AT(path, version.root.kind() == Value::Kind::integer && version.root.as_int() == 1001,
                  "legacy protocol version is not 1001");
  const Unpickled sys_info = next("sys_info", PersistentIds::none);
  const Value* little = sys_info.root.find("little_endian");
  PTHRUN_CHECK_AT(path, little && little->kind() == Value::Kind::boolean, "legacy sys_info lacks little_endian");
  Unpickled object = next("object pickle", PersistentIds::legacy);
  const Unpickled keys = next("storage key list", PersistentIds::none);
  PTHRUN_CHECK_AT(path, keys.root.kind() == Value::Kind::list, "the legacy storage key list is not a list");

  std::unordered_map<std::string, const PickledStorage*> declared;
  for (const PickledStorage& s : object.storages) declared[s.key] = &s;
  std::size_t found = 0;
  for (const Value& key_value : keys.root.items()) {
    PTHRUN_CHECK_AT(path, key_value.kind() == Value::Kind::string, "a legacy storage key is not a str");
    const std::string& key = key_value.as_string();
    const ErrorContext where{path, str("legacy storage ", in_quotes(key), " at byte ", pos)};
    auto it = declared.find(key);
    PTHRUN_CHECK_AT(where, it != declared.end(), "it has data but no tensor refers to it");
    PTHRUN_CHECK_AT(where, impl.storages.count(key_prefix + key) == 0, "it appears twice");
    const PickledStorage& s = *it->second;
    PTHRUN_CHECK_AT(where, all.size() - pos >= 8, "truncated: it lacks its size");
    int64_t count = 0;
    for (int k = 7; k >= 0; --k) count = static_cast<int64_t>((static_cast<uint64_t>(count) << 8) | all[pos + k]);
    PTHRUN_CHECK_AT(where, count == s.numel, "holds ", count, " elements, but the pickle declares ", s.numel);
    const std::size_t size = torch_itemsize(s.dtype);
    PTHRUN_CHECK_AT(where, size > 0, "unsupported dtype ", s.dtype);
    const uint64_t nbytes =
        with_context(where, [&] { return checked_mul<uint64_t>(static_cast<uint64_t>(count), size, "storage size"); });
    PTHRUN_CHECK_AT(where, nbytes <= all.size() - pos - 8, "truncated: it needs ", nbytes, " bytes at byte ", pos + 8,
                    ", the file ends at ", all.size());
    StorageRecord record;
    record.where = where;
    record.file = file;
    record.offset = pos + 8;
    record.nbytes = nbytes;
    record.big_endian = !little->as_bool();
    impl.storages[key_prefix + key] = std::move(record);
    pos += 8 + nbytes;
    ++found;
  }
  PTHRUN_CHECK_AT(path, pos == all.size(), all.size() - pos, " bytes after the last legacy storage");
  PTHRUN_CHECK_AT(path, found == object.storages.size(), object.storages.size() - found,
                  " storages have no data in the legacy stream");

  Part part;
  part.root = std::move(object.root);
  for (PickledTensor& t : object.tensors)
    part.tensors.push_back({std::move(t.dtype), t.shape, t.strides, t.storage_offset,
                            key_prefix + object.storages[t.storage].key});
  return part;
}

}  // namespace pthrun
