// Opening a checkpoint: detection by content, the common validation of every tensor view,
// and navigation of checkpoint dicts. The formats themselves are in *_format.cpp.
#include "loader/checkpoint.h"

#include <sys/stat.h>

#include <cstring>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "loader/checkpoint_impl.h"
#include "loader/stream_loader.h"
#include "runtime/checked_math.h"
#include "runtime/error.h"
#include "runtime/quote.h"

namespace pthrun {

namespace {

// A view may describe at most this many bytes (zero strides can repeat a small storage).
constexpr uint64_t kMaxViewBytes = uint64_t(1) << 48;

struct TorchDtypeName {
  const char* name;
  DType dtype;
};

constexpr TorchDtypeName torch_dtypes[] = {
    {"float32", DType::f32}, {"float", DType::f32},  {"float16", DType::f16}, {"half", DType::f16},
    {"bfloat16", DType::bf16}, {"float64", DType::f64}, {"double", DType::f64}, {"int64", DType::i64},
    {"long", DType::i64},    {"int32", DType::i32},  {"int", DType::i32},     {"int16", DType::i16},
    {"short", DType::i16},   {"int8", DType::i8},    {"uint8", DType::u8},    {"bool", DType::boolean},
};

std::string hex_prefix(const MappedFile& file) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (uint64_t i = 0; i < std::min<uint64_t>(file.size(), 8); ++i) {
    if (i) out += ' ';
    out += digits[file.data()[i] >> 4];
    out += digits[file.data()[i] & 15];
  }
  return out;
}

// Names tensor leaves by key path and validates each tensor once. Names are checked before
// they are built (length, depth), and what the names and descriptions take is charged against
// the checkpoint's metadata budget, so a tree that references one long key a million times
// cannot make a million long names.
class Finisher {
 public:
  Finisher(Checkpoint::Impl& impl, Part& part)
      : impl_(impl),
        part_(part),
        resolved_(part.tensors.size()),
        memory_limit_(kMetadataMemoryBase + kMetadataMemoryPerByte * impl.metadata_bytes) {}

  void walk(const Value& value, const std::string& name, std::size_t depth) {
    if (value.kind() == Value::Kind::tensor) {
      const std::size_t index = value.tensor_index();
      PTHRUN_ASSERT(index < part_.tensors.size());
      // The description (in a vector that may double), its name, and the name in names_.
      charge(2 * sizeof(TensorInfo) + 2 * name.size() + 128);
      if (!resolved_[index]) resolved_[index] = resolve(part_.tensors[index], name);
      TensorInfo info = *resolved_[index];
      info.name = name;
      PTHRUN_CHECK(names_.insert(name).second, "two tensors are both named ", in_quotes(name));
      impl_.tensors.push_back(std::move(info));
      return;
    }
    if (!value.is_container() || !value.contains_tensor()) return;
    PTHRUN_CHECK(depth < kMaxNameDepth, "tensors nested more than ", kMaxNameDepth, " levels deep (under ",
                 in_quotes(name, 64), ")");
    // Every name below a dict holding tensors is checked, the plain values' too: they are the
    // names `inspect` lists.
    for (std::size_t i = 0; i < value.items().size(); ++i) {
      const std::string child = child_name(value, i, name);
      if (value.items()[i].contains_tensor()) walk(value.items()[i], child, depth + 1);
    }
  }

  std::vector<TensorInfo> by_index() {
    std::vector<TensorInfo> out(resolved_.size());
    for (std::size_t i = 0; i < resolved_.size(); ++i)
      if (resolved_[i]) out[i] = *resolved_[i];
    return out;
  }

 private:
  // "<name>.<key>", refused before it is built when it would be too long.
  static std::string child_name(const Value& container, std::size_t i, const std::string& name) {
    const bool dict = container.kind() == Value::Kind::dict;
    const std::size_t key_size = dict ? container.keys()[i].key_text_size() : std::to_string(i).size();
    const std::size_t size = name.empty() ? key_size : name.size() + 1 + key_size;
    if (size > kMaxNameBytes) {
      const Value& key = container.keys()[i];  // lists' keys are never this long
      const std::string start = key.is_text() ? key.as_string().substr(0, 64) : key.key_text();
      throw Error(str("a key path of ", size, " bytes, more than the ", kMaxNameBytes, " allowed: ",
                      in_quotes((name.empty() ? "" : name.substr(0, 64) + ".") + start, 64), "..."));
    }
    const std::string key = dict ? container.keys()[i].key_text() : std::to_string(i);
    return name.empty() ? key : name + "." + key;
  }

  void charge(std::size_t bytes) {
    memory_ += bytes;
    PTHRUN_CHECK(memory_ <= memory_limit_, "the tensors' names and descriptions would take more than ", memory_limit_,
                 " bytes for ", impl_.metadata_bytes, " bytes of metadata (a tensor referenced many times?)");
  }

 private:
  TensorInfo resolve(const RawTensor& raw, const std::string& name) {
    const StorageRecord& record = impl_.record(raw.storage_key);
    const DType* dtype = torch_dtype(raw.dtype);
    PTHRUN_CHECK_AT(record.where, dtype, "unsupported dtype ", raw.dtype, " (tensor ", in_quotes(name),
                    "); pthrun reads float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8 and bool");
    auto [it, inserted] = storage_dtypes_.emplace(raw.storage_key, *dtype);
    PTHRUN_CHECK_AT(record.where, it->second == *dtype, "the storage is viewed as both ", dtype_name(it->second),
                    " and ", dtype_name(*dtype), " (tensor ", in_quotes(name), ")");
    const auto size = static_cast<int64_t>(itemsize(*dtype));
    PTHRUN_CHECK_AT(
        record.where, !(record.big_endian && size > 1),
        "big-endian data (byteorder 'big') is not supported; save the checkpoint on a little-endian machine");
    TensorInfo info;
    info.dtype = *dtype;
    info.shape = raw.shape;
    info.strides = raw.strides;
    info.storage_offset = raw.storage_offset;
    info.storage_key = raw.storage_key;
    info.name = name;
    check_view(info, record);
    return info;
  }

  Checkpoint::Impl& impl_;
  Part& part_;
  std::vector<std::optional<TensorInfo>> resolved_;
  std::unordered_set<std::string> names_;
  std::unordered_map<std::string, DType> storage_dtypes_;
  const uint64_t memory_limit_;
  uint64_t memory_ = 0;
};

// The dicts whose values include tensors directly and whose other values hold none.
bool is_state_dict(const Value& value) {
  if (value.kind() != Value::Kind::dict) return false;
  bool any = false;
  for (const Value& item : value.items()) {
    if (item.kind() == Value::Kind::tensor) any = true;
    else if (item.is_container() && item.contains_tensor()) return false;
  }
  return any;
}

// The value at a '.'-joined key path. Keys may contain dots themselves, so at each dict the
// longest key that matches the path's start wins.
const Value* navigate(const Value& root, std::string_view key) {
  const Value* node = &root;
  while (!key.empty()) {
    const Value* next = nullptr;
    std::size_t used = 0;
    if (node->kind() == Value::Kind::dict) {
      for (std::size_t i = 0; i < node->keys().size(); ++i) {
        const std::string k = node->keys()[i].key_text();
        if (k.size() > used && key.substr(0, k.size()) == k && (key.size() == k.size() || key[k.size()] == '.')) {
          next = &node->items()[i];
          used = k.size();
        }
      }
    } else if (node->kind() == Value::Kind::list || node->kind() == Value::Kind::tuple) {
      const std::string_view segment = key.substr(0, key.find('.'));
      for (std::size_t i = 0; i < node->items().size() && !next; ++i) {
        if (segment == std::to_string(i)) {
          next = &node->items()[i];
          used = segment.size();
        }
      }
    }
    if (!next) return nullptr;
    node = next;
    key.remove_prefix(std::min(key.size(), used + 1));
  }
  return node;
}

}  // namespace

const char* format_name(CheckpointFormat format) {
  switch (format) {
    case CheckpointFormat::zip: return "zip";
    case CheckpointFormat::legacy: return "legacy";
    case CheckpointFormat::safetensors: return "safetensors";
    case CheckpointFormat::folder: return "folder";
    case CheckpointFormat::sharded: return "sharded";
  }
  return "?";
}

const DType* torch_dtype(std::string_view name) {
  for (const TorchDtypeName& d : torch_dtypes)
    if (name == d.name) return &d.dtype;
  return nullptr;
}

std::size_t torch_itemsize(std::string_view name) {
  if (name == "bytes") return 1;
  if (const DType* dtype = torch_dtype(name)) return itemsize(*dtype);
  if (name == "complex64") return 8;
  if (name == "complex128") return 16;
  return 0;
}

const StorageRecord& Checkpoint::Impl::record(const std::string& storage_key) const {
  auto it = storages.find(storage_key);
  PTHRUN_CHECK_AT(path, it != storages.end(), "no storage ", in_quotes(storage_key));
  return it->second;
}

CheckpointFormat detect_file_format(const MappedFile& file) {
  const std::string& path = file.path();
  PTHRUN_CHECK_AT(path, file.size() > 0, "the file is empty");
  const uint8_t* p = file.data();
  auto starts = [&](const char* magic, std::size_t n) { return file.size() >= n && std::memcmp(p, magic, n) == 0; };
  if (starts("PK\x03\x04", 4) || starts("PK\x05\x06", 4)) return CheckpointFormat::zip;
  if (is_legacy_stream(file)) return CheckpointFormat::legacy;
  if (starts("PYTORCH1", 8))
    throw Error(path, str("the PYTORCH1 preview format is not supported; re-save the checkpoint with torch.save"));
  if (file.size() >= 512 && std::memcmp(p + 257, "ustar", 5) == 0)
    throw Error(path, str("a tar archive: the checkpoint format of torch before 0.1.10 is not supported; "
                          "re-save it with a current torch.save"));
  if (file.size() >= 10 && p[8] == '{') return CheckpointFormat::safetensors;
  throw Error(path, str("not a checkpoint pthrun can read (first bytes ", hex_prefix(file),
                        "); expected a torch.save zip, a legacy torch file, safetensors, or a folder of .pth files"));
}

void check_view(const TensorInfo& info, const StorageRecord& record) {
  const auto size = static_cast<int64_t>(itemsize(info.dtype));
  const std::string& name = info.name;
  PTHRUN_CHECK_AT(record.where, record.nbytes % static_cast<uint64_t>(size) == 0, record.nbytes,
                  " bytes is not a whole number of ", dtype_name(info.dtype), " elements (tensor ", in_quotes(name),
                  ")");
  PTHRUN_CHECK_AT(record.where, info.shape.size() == info.strides.size(), "tensor ", in_quotes(name), " has shape ",
                  info.shape.to_string(), " but stride ", info.strides.to_string());
  const auto storage_elems = static_cast<int64_t>(record.nbytes / static_cast<uint64_t>(size));
  int64_t numel = 1, last = info.storage_offset;
  PTHRUN_CHECK_AT(record.where, info.storage_offset >= 0, "tensor ", in_quotes(name), " has a negative storage offset");
  for (int d = 0; d < info.shape.size(); ++d) {
    PTHRUN_CHECK_AT(record.where, info.shape[d] >= 0 && info.strides[d] >= 0, "tensor ", in_quotes(name),
                    " has a negative size or stride");
    int64_t reach = 0;
    PTHRUN_CHECK_AT(record.where, !__builtin_mul_overflow(numel, info.shape[d], &numel), "tensor ", in_quotes(name),
                    " of shape ", info.shape.to_string(), ": its size overflows 64 bits");
    PTHRUN_CHECK_AT(record.where,
                    info.shape[d] == 0 || (!__builtin_mul_overflow(info.shape[d] - 1, info.strides[d], &reach) &&
                                           !__builtin_add_overflow(last, reach, &last)),
                    "tensor ", in_quotes(name), " (shape ", info.shape.to_string(), ", stride ",
                    info.strides.to_string(), ", offset ", info.storage_offset, "): its extent overflows 64 bits");
  }
  PTHRUN_CHECK_AT(record.where, static_cast<uint64_t>(numel) <= kMaxViewBytes / static_cast<uint64_t>(size), "tensor ",
                  in_quotes(name), " of shape ", info.shape.to_string(), " is larger than ", kMaxViewBytes, " bytes");
  if (numel == 0)
    PTHRUN_CHECK_AT(record.where, info.storage_offset <= storage_elems, "empty tensor ", in_quotes(name), " at offset ",
                    info.storage_offset, " lies beyond its storage of ", storage_elems, " elements");
  else
    PTHRUN_CHECK_AT(record.where, last < storage_elems, "tensor ", in_quotes(name), " (shape ", info.shape.to_string(),
                    ", stride ", info.strides.to_string(), ", offset ", info.storage_offset, ") reaches element ", last,
                    " of a storage of ", storage_elems, " elements");
}

void finish(Checkpoint::Impl& impl, Part part) {
  Finisher finisher(impl, part);
  finisher.walk(part.root, "", 0);
  impl.by_index = finisher.by_index();
  impl.root = std::move(part.root);
}

Checkpoint Checkpoint::open(const std::string& path) {
  // No error leaves without naming the file (errors from deep inside, an overflow or a JSON
  // type check, are given it here).
  return with_context({path}, [&] { return open_file(path); });
}

Part read_single_file(Checkpoint::Impl& impl, const std::string& path, const std::string& key_prefix,
                      bool set_format) {
  std::shared_ptr<const MappedFile> file = MappedFile::open(path);
  try {
    const CheckpointFormat format = detect_file_format(*file);
    if (set_format) impl.format = format;
    Part part;
    switch (format) {
      case CheckpointFormat::zip: part = read_zip_checkpoint(impl, file, key_prefix); break;
      case CheckpointFormat::legacy: part = read_legacy_checkpoint(impl, file, key_prefix); break;
      case CheckpointFormat::safetensors: part = read_safetensors(impl, file, key_prefix); break;
      case CheckpointFormat::folder:
      case CheckpointFormat::sharded: PTHRUN_ASSERT(false);
    }
    file->check_intact();
    return part;
  } catch (const Error&) {
    file->check_intact();  // a file cut short while parsing: that, not its zeros, is the error
    throw;
  }
}

Checkpoint Checkpoint::open_file(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  struct stat info {};
  Part part;
  // A save_pretrained folder is read as the file (or index) it holds; any other folder holds
  // one file per tensor.
  std::string file = path;
  if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
    file = hf_weights_file(path);
    if (file.empty()) {
      impl->format = CheckpointFormat::folder;
      part = read_folder(*impl, path);
    }
  }
  if (!file.empty() && is_shard_index(file)) {
    impl->format = CheckpointFormat::sharded;
    part = with_context({file}, [&] { return read_sharded(*impl, file); });
  } else if (!file.empty()) {
    check_not_a_shard(file);
    part = with_context({file}, [&] { return read_single_file(*impl, file, "", true); });
  }
  finish(*impl, std::move(part));
  return Checkpoint(std::move(impl));
}

Checkpoint::Checkpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Checkpoint::Checkpoint(Checkpoint&&) noexcept = default;
Checkpoint& Checkpoint::operator=(Checkpoint&&) noexcept = default;
Checkpoint::~Checkpoint() = default;

CheckpointFormat Checkpoint::format() const { return impl_->format; }
const std::string& Checkpoint::path() const { return impl_->path; }
const std::string& Checkpoint::zip_root() const { return impl_->zip_root; }
const std::vector<TensorInfo>& Checkpoint::tensors() const { return impl_->tensors; }
const Value& Checkpoint::root() const { return impl_->root; }

std::vector<TensorInfo> Checkpoint::state_dict(std::string_view key) const {
  auto one = [&](const Value& leaf) {
    TensorInfo info = impl_->by_index.at(leaf.tensor_index());
    info.name = "";
    return std::vector<TensorInfo>{info};
  };
  auto entries = [&](const Value& dict) {
    std::vector<TensorInfo> out;
    for (std::size_t i = 0; i < dict.items().size(); ++i) {
      if (dict.items()[i].kind() != Value::Kind::tensor) continue;
      TensorInfo info = impl_->by_index.at(dict.items()[i].tensor_index());
      info.name = dict.keys()[i].key_text();
      out.push_back(std::move(info));
    }
    return out;
  };
  const Value& root = impl_->root;
  if (!key.empty()) {
    const Value* node = navigate(root, key);
    if (!node) {
      std::string top;  // what there is to choose from, at the top of the tree
      if (root.kind() == Value::Kind::dict)
        for (std::size_t i = 0; i < root.keys().size() && i < 10; ++i)
          top += (i ? ", " : "") + printable(root.keys()[i].key_text(), 64);
      throw Error(impl_->path,
                  str("no entry ", in_quotes(key), " in the checkpoint",
                      top.empty() ? std::string()
                                  : str(" (its top-level keys: ", top, root.keys().size() > 10 ? ", ..." : "", ")")));
    }
    if (node->kind() == Value::Kind::tensor) return one(*node);
    PTHRUN_CHECK_AT(impl_->path, is_state_dict(*node), "entry ", in_quotes(key), " is a ", kind_name(node->kind()),
                    node->kind() == Value::Kind::dict ? " without tensor values" : "", ", not a dict of tensors");
    return entries(*node);
  }
  if (root.kind() == Value::Kind::tensor) return one(root);
  // Breadth first: the shallowest dicts of tensors win; more than one at that depth is ambiguous.
  std::vector<std::pair<const Value*, std::string>> level{{&root, ""}};
  while (!level.empty()) {
    std::vector<std::pair<const Value*, std::string>> found, next;
    for (const auto& [node, name] : level) {
      if (is_state_dict(*node)) {
        found.emplace_back(node, name);
        continue;
      }
      if (!node->is_container()) continue;
      for (std::size_t i = 0; i < node->items().size(); ++i) {
        const Value& child = node->items()[i];
        if (!child.is_container() || !child.contains_tensor()) continue;
        const std::string k = node->kind() == Value::Kind::dict ? node->keys()[i].key_text() : std::to_string(i);
        next.emplace_back(&child, name.empty() ? k : name + "." + k);
      }
    }
    if (found.size() == 1) return entries(*found.front().first);
    if (found.size() > 1) {
      std::string names;
      for (const auto& f : found) names += (names.empty() ? "" : ", ") + in_quotes(f.second);
      throw Error(impl_->path, str("several dicts of tensors (", names, "); choose one with a key"));
    }
    level = std::move(next);
  }
  throw Error(impl_->path, str("no dict of tensors in the checkpoint"));
}

Tensor Checkpoint::read(const TensorInfo& info) const {
  Tensor out = Tensor::empty(info.shape, info.dtype, cpu_device);
  load_tensors(*this, {{info, out}});
  return out;
}

void Checkpoint::check_intact() const {
  for (const auto& [key, record] : impl_->storages)
    if (record.file) record.file->check_intact();
}

Tensor Checkpoint::map(const TensorInfo& info) const {
  const StorageRecord& record = impl_->record(info.storage_key);
  PTHRUN_CHECK_AT(record.where, !record.compressed(), "a compressed record cannot be mapped; read() copies it");
  PTHRUN_CHECK_AT(record.where, !record.big_endian || itemsize(info.dtype) == 1,
                  "big-endian data cannot be mapped; read() converts it");
  check_view(info, record);
  // The storage borrows the record's bytes and holds the mapping, as long as any view lives.
  auto* bytes = const_cast<uint8_t*>(record.file->data() + record.offset);
  auto storage = Storage::borrow(bytes, static_cast<std::size_t>(record.nbytes), cpu_device, record.file);
  return Tensor(std::move(storage), info.dtype, info.shape, info.strides, info.storage_offset);
}

}  // namespace pthrun
