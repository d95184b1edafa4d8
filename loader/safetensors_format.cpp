// safetensors: u64 little-endian header length N, N bytes of JSON, then the byte buffer.
//
//   {"__metadata__": {"format": "pt"},
//    "wte.weight": {"dtype": "F32", "shape": [50257, 768], "data_offsets": [0, 154389504]}, ...}
//
// Offsets are relative to the buffer; tensors are row-major and little-endian. As the
// reference reader does, pthrun requires N <= 100,000,000 and the sorted ranges to tile the
// buffer exactly, each range being numel x element size.
#include <algorithm>
#include <unordered_set>

#include "loader/checkpoint_impl.h"
#include "runtime/checked_math.h"
#include "runtime/error.h"
#include "runtime/json.h"

namespace pthrun {

namespace {

constexpr uint64_t kMaxHeader = 100'000'000;

struct SafetensorsDtype {
  const char* code;
  const char* torch_name;  // nullptr: no pthrun dtype
};

constexpr SafetensorsDtype dtypes[] = {
    {"F32", "float32"}, {"F16", "float16"}, {"BF16", "bfloat16"}, {"F64", "float64"}, {"I64", "int64"},
    {"I32", "int32"},   {"I16", "int16"},   {"I8", "int8"},       {"U8", "uint8"},    {"BOOL", "bool"},
};

}  // namespace

Part read_safetensors(Checkpoint::Impl& impl, std::shared_ptr<const MappedFile> file) {
  const std::string& path = file->path();
  PTHRUN_CHECK(file->size() >= 8, path, ": too short for a safetensors header");
  uint64_t header_len = 0;
  for (int k = 7; k >= 0; --k) header_len = (header_len << 8) | file->data()[k];
  PTHRUN_CHECK(header_len <= kMaxHeader && header_len <= file->size() - 8, path, ": safetensors header of ",
               header_len, " bytes (the file has ", file->size(), ", the limit is ", kMaxHeader, ")");
  const std::string_view text(reinterpret_cast<const char*>(file->data() + 8), static_cast<std::size_t>(header_len));
  Json header;
  try {
    header = parse_json(text);
  } catch (const Error& e) {
    throw Error(str(path, ": safetensors header: ", e.what()));
  }
  PTHRUN_CHECK(header.is_object(), path, ": the safetensors header is not a JSON object");
  const uint64_t buffer_start = 8 + header_len, buffer_size = file->size() - buffer_start;

  struct Range {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Range> ranges;
  std::vector<Value> keys, values;
  Part part;
  std::unordered_set<std::string> seen;
  for (const auto& [name, entry] : header.members()) {
    PTHRUN_CHECK(seen.insert(name).second, path, ": tensor '", name, "' appears twice in the header");
    if (name == "__metadata__") {
      PTHRUN_CHECK(entry.is_object(), path, ": __metadata__ is not an object");
      for (const auto& [key, value] : entry.members())
        PTHRUN_CHECK(value.is_string(), path, ": __metadata__ value '", key, "' is not a string");
      continue;
    }
    const std::string where = str(path, ": tensor '", name, "'");
    PTHRUN_CHECK(entry.is_object() && entry.find("dtype") && entry.find("shape") && entry.find("data_offsets"),
                 where, ": expected an object with dtype, shape and data_offsets");
    PTHRUN_CHECK(entry.members().size() == 3, where, ": unexpected fields besides dtype, shape and data_offsets");
    PTHRUN_CHECK(entry.at("dtype").is_string(), where, ": dtype is not a string");
    const std::string& code = entry.at("dtype").as_string();
    const SafetensorsDtype* dtype = nullptr;
    for (const SafetensorsDtype& d : dtypes)
      if (code == d.code) dtype = &d;
    PTHRUN_CHECK(dtype, where, ": unsupported dtype ", code.substr(0, 20),
                 "; pthrun reads F32, F16, BF16, F64, I64, I32, I16, I8, U8 and BOOL");
    PTHRUN_CHECK(entry.at("shape").is_array() && entry.at("shape").items().size() <= static_cast<std::size_t>(kMaxDims),
                 where, ": shape must be an array of at most ", kMaxDims, " sizes");
    RawTensor t;
    t.dtype = dtype->torch_name;
    uint64_t numel = 1;
    for (const Json& size : entry.at("shape").items()) {
      PTHRUN_CHECK(size.is_number(), where, ": shape entries must be integers");
      const uint64_t n = size.as_uint();
      PTHRUN_CHECK(n <= static_cast<uint64_t>(INT64_MAX), where, ": shape entry ", n, " is too large");
      numel = checked_mul<uint64_t>(numel, n, "tensor size");
      t.shape.push_back(static_cast<int64_t>(n));
    }
    t.strides = contiguous_strides(t.shape);
    const Json& offsets = entry.at("data_offsets");
    PTHRUN_CHECK(offsets.is_array() && offsets.items().size() == 2 && offsets.items()[0].is_number() &&
                     offsets.items()[1].is_number(),
                 where, ": data_offsets must be [begin, end]");
    const uint64_t begin = offsets.items()[0].as_uint(), end = offsets.items()[1].as_uint();
    const uint64_t nbytes = checked_mul<uint64_t>(numel, torch_itemsize(t.dtype), "tensor size");
    PTHRUN_CHECK(begin <= end && end <= buffer_size, where, ": data_offsets [", begin, ", ", end,
                 ") lie outside the buffer of ", buffer_size, " bytes");
    PTHRUN_CHECK(end - begin == nbytes, where, ": data_offsets span ", end - begin, " bytes, but shape ",
                 t.shape.to_string(), " of ", code, " needs ", nbytes);
    ranges.push_back({begin, end, name});
    // Each tensor is its own storage, keyed by its name (safetensors has no sharing).
    t.storage_key = name;
    StorageRecord record;
    record.where = where;
    record.file = file;
    record.offset = buffer_start + begin;
    record.nbytes = nbytes;
    impl.storages[name] = std::move(record);
    keys.push_back(Value::string(name));
    values.push_back(Value::tensor(part.tensors.size()));
    part.tensors.push_back(std::move(t));
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  for (const Range& r : ranges) {
    PTHRUN_CHECK(r.begin == cursor, path, ": tensor '", r.name, "' starts at buffer byte ", r.begin, ", expected ",
                 cursor, " (ranges must tile the buffer without gaps or overlaps)");
    cursor = r.end;
  }
  PTHRUN_CHECK(cursor == buffer_size, path, ": the tensors cover ", cursor, " bytes of a buffer of ", buffer_size);
  part.root = Value::dict(std::move(keys), std::move(values), true);
  return part;
}

}  // namespace pthrun
