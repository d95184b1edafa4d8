// safetensors: u64 little-endian header length N, N bytes of JSON, then the byte buffer.
//
//   {"__metadata__": {"format": "pt"},
//    "wte.weight": {"dtype": "F32", "shape": [50257, 768], "data_offsets": [0, 154389504]}, ...}
//
// Offsets are relative to the buffer; tensors are row-major and little-endian. As the
// reference reader does, pthrun requires N <= 100,000,000 and the sorted ranges to tile the
// buffer exactly, each range being numel x element size. Every error names the file and,
// where there is one, the tensor.
#include <algorithm>
#include <unordered_set>

#include "loader/checkpoint_impl.h"
#include "runtime/checked_math.h"
#include "runtime/error.h"
#include "runtime/json.h"
#include "runtime/quote.h"

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

// The header's JSON: parsed with the shape of a valid header as its limits, so that nothing
// larger is ever built (an array of more than 8 sizes stops the parser at its ninth item).
JsonValue parse_header(const std::string& path, std::string_view text) {
  JsonLimits limits;
  limits.max_depth = 3;         // the header, a tensor's entry, its shape or offsets
  limits.max_items = kMaxDims;  // shapes hold at most 8 sizes, offsets 2
  return with_context({path, "safetensors header"}, [&] { return parse_json(text, limits); });
}

}  // namespace

Part read_safetensors(Checkpoint::Impl& impl, std::shared_ptr<const MappedFile> file, const std::string& key_prefix) {
  const std::string& path = file->path();
  PTHRUN_CHECK_AT(path, file->size() >= 8, "too short for a safetensors header");
  uint64_t header_len = 0;
  for (int k = 7; k >= 0; --k) header_len = (header_len << 8) | file->data()[k];
  PTHRUN_CHECK_AT(path, header_len <= kMaxHeader && header_len <= file->size() - 8, "safetensors header of ",
                  header_len, " bytes (the file has ", file->size(), ", the limit is ", kMaxHeader, ")");
  impl.metadata_bytes += header_len;
  const std::string_view text(reinterpret_cast<const char*>(file->data() + 8), static_cast<std::size_t>(header_len));
  const JsonValue header = parse_header(path, text);
  PTHRUN_CHECK_AT(path, header.is_object(), "the safetensors header is not a JSON object");
  const uint64_t buffer_start = 8 + header_len, buffer_size = file->size() - buffer_start;

  struct Range {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;
  std::vector<Value> keys, values;
  Part part;
  for (const auto& member : header.get_ref<const JsonValue::object_t&>()) {
    const std::string& name = member.first;
    const JsonValue& entry = member.second;
    if (name == "__metadata__") {
      PTHRUN_CHECK_AT(path, entry.is_object(), "__metadata__ is not an object");
      for (const auto& [key, value] : entry.items())
        PTHRUN_CHECK_AT(path, value.is_string(), "__metadata__ value ", in_quotes(key), " is not a string");
      continue;
    }
    const ErrorContext where{path, "tensor " + in_quotes(name)};
    PTHRUN_CHECK_AT(where, name.size() <= kMaxNameBytes, "a name of ", name.size(), " bytes, more than the ",
                    kMaxNameBytes, " allowed");
    PTHRUN_CHECK_AT(where,
                    entry.is_object() && entry.size() == 3 && json_find(entry, "dtype") && json_find(entry, "shape") &&
                        json_find(entry, "data_offsets"),
                    "expected an object of dtype, shape and data_offsets");
    RawTensor t;
    uint64_t begin = 0, end = 0, nbytes = 0;
    std::string code;
    with_context(where, [&] {
      code = json_string(entry, "dtype");
      const SafetensorsDtype* dtype = nullptr;
      for (const SafetensorsDtype& d : dtypes)
        if (code == d.code) dtype = &d;
      PTHRUN_CHECK(dtype, "unsupported dtype ", printable(code, 20),
                   "; pthrun reads F32, F16, BF16, F64, I64, I32, I16, I8, U8 and BOOL");
      t.dtype = dtype->torch_name;
      uint64_t numel = 1;
      for (const JsonValue& size : json_array(entry, "shape")) {
        const uint64_t n = json_uint(size);
        PTHRUN_CHECK(n <= static_cast<uint64_t>(INT64_MAX), "shape entry ", n, " is too large");
        numel = checked_mul<uint64_t>(numel, n, "tensor size");
        t.shape.push_back(static_cast<int64_t>(n));
      }
      const JsonValue& offsets = json_array(entry, "data_offsets");
      PTHRUN_CHECK(offsets.size() == 2, "data_offsets must be [begin, end]");
      begin = json_uint(offsets[0]);
      end = json_uint(offsets[1]);
      nbytes = checked_mul<uint64_t>(numel, torch_itemsize(t.dtype), "tensor size");
    });
    t.strides = contiguous_strides(t.shape);
    PTHRUN_CHECK_AT(where, begin <= end && end <= buffer_size, "data_offsets [", begin, ", ", end,
                    ") lie outside the buffer of ", buffer_size, " bytes");
    PTHRUN_CHECK_AT(where, end - begin == nbytes, "data_offsets span ", end - begin, " bytes, but shape ",
                    t.shape.to_string(), " of ", code, " needs ", nbytes);
    ranges.push_back({begin, end, &name});
    // Each tensor is its own storage, keyed by its name (safetensors has no sharing).
    t.storage_key = key_prefix + name;
    StorageRecord record;
    record.where = where;
    record.file = file;
    record.offset = buffer_start + begin;
    record.nbytes = nbytes;
    impl.storages[t.storage_key] = std::move(record);
    keys.push_back(Value::string(name));
    values.push_back(Value::tensor(part.tensors.size()));
    part.tensors.push_back(std::move(t));
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  for (const Range& r : ranges) {
    PTHRUN_CHECK_AT(path, r.begin == cursor, "tensor ", in_quotes(*r.name), " starts at buffer byte ", r.begin,
                    ", expected ", cursor, " (ranges must tile the buffer without gaps or overlaps)");
    cursor = r.end;
  }
  PTHRUN_CHECK_AT(path, cursor == buffer_size, "the tensors cover ", cursor, " bytes of a buffer of ", buffer_size);
  part.root = Value::dict(std::move(keys), std::move(values), true);
  return part;
}

}  // namespace pthrun
