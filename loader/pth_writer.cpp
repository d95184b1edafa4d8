#include "loader/pth_writer.h"

#include <cstring>
#include <filesystem>

#include "loader/zip_writer.h"
#include "runtime/error.h"
#include "runtime/interrupt.h"

namespace pthrun {

namespace {

constexpr std::size_t kCopyChunk = std::size_t(16) << 20;  // device storages are copied out in chunks

const char* storage_class(DType dtype) {
  switch (dtype) {
    case DType::f32: return "FloatStorage";
    case DType::f16: return "HalfStorage";
    case DType::bf16: return "BFloat16Storage";
    case DType::f64: return "DoubleStorage";
    case DType::i64: return "LongStorage";
    case DType::i32: return "IntStorage";
    case DType::i16: return "ShortStorage";
    case DType::i8: return "CharStorage";
    case DType::u8: return "ByteStorage";
    case DType::boolean: return "BoolStorage";
  }
  return "";
}

struct SavedStorage {
  std::shared_ptr<Storage> storage;
  DType dtype;
  std::string key;
};

// Emits protocol-2 opcodes, the subset torch's weights_only unpickler accepts.
class Pickler {
 public:
  Pickler(const std::vector<Tensor>& tensors, std::vector<SavedStorage>& storages)
      : tensors_(tensors), storages_(storages) {
    out_ += "\x80\x02";
  }

  std::string finish(const Value& root) {
    value(root, 0);
    out_ += '.';
    return std::move(out_);
  }

 private:
  void value(const Value& v, int depth) {
    PTHRUN_CHECK(depth < 200, "save: values nested too deeply");
    switch (v.kind()) {
      case Value::Kind::none: out_ += 'N'; return;
      case Value::Kind::boolean: out_ += v.as_bool() ? '\x88' : '\x89'; return;
      case Value::Kind::integer: integer(v.as_int()); return;
      case Value::Kind::floating: {
        double f = v.as_double();
        uint64_t bits;
        std::memcpy(&bits, &f, sizeof bits);
        out_ += 'G';
        for (int k = 7; k >= 0; --k) out_ += static_cast<char>((bits >> (8 * k)) & 0xff);
        return;
      }
      case Value::Kind::string: text(v.as_string()); return;
      case Value::Kind::bytes:
        throw Error("save: bytes values cannot be saved for torch.load(weights_only=True)");
      case Value::Kind::tuple: {
        const auto& items = v.items();
        if (items.empty()) {
          out_ += ')';
          return;
        }
        if (items.size() > 3) out_ += '(';
        for (const Value& item : items) value(item, depth + 1);
        out_ += items.size() == 1 ? '\x85' : items.size() == 2 ? '\x86' : items.size() == 3 ? '\x87' : 't';
        return;
      }
      case Value::Kind::list:
        out_ += ']';
        if (!v.items().empty()) {
          out_ += '(';
          for (const Value& item : v.items()) value(item, depth + 1);
          out_ += 'e';
        }
        return;
      case Value::Kind::dict:
        if (v.ordered()) out_ += "ccollections\nOrderedDict\n)R";
        else out_ += '}';
        if (!v.items().empty()) {
          out_ += '(';
          for (std::size_t i = 0; i < v.items().size(); ++i) {
            value(v.keys()[i], depth + 1);
            value(v.items()[i], depth + 1);
          }
          out_ += 'u';
        }
        return;
      case Value::Kind::tensor: tensor(tensors_.at(v.tensor_index())); return;
    }
  }

  void integer(int64_t n) {
    if (n >= 0 && n < 256) {
      out_ += 'K';
      out_ += static_cast<char>(n);
    } else if (n >= INT32_MIN && n <= INT32_MAX) {
      out_ += 'J';
      put(static_cast<uint32_t>(n), 4);
    } else {
      out_ += "\x8a\x08";
      put(static_cast<uint64_t>(n), 8);
    }
  }

  void text(const std::string& s) {
    out_ += 'X';
    put(s.size(), 4);
    out_ += s;
  }

  void put(uint64_t v, int n) {
    for (int k = 0; k < n; ++k) out_ += static_cast<char>((v >> (8 * k)) & 0xff);
  }

  // _rebuild_tensor_v2(('storage', torch.<X>Storage, key, 'cpu', numel), offset, size,
  //                    stride, False, OrderedDict())
  void tensor(const Tensor& t) {
    PTHRUN_CHECK(t.defined(), "save: an undefined tensor");
    const SavedStorage& s = storage_of(t);
    out_ += "ctorch._utils\n_rebuild_tensor_v2\n(";
    out_ += "(";
    text("storage");
    out_ += str("ctorch\n", storage_class(t.dtype()), "\n");
    text(s.key);
    text("cpu");
    integer(static_cast<int64_t>(s.storage->nbytes() / t.itemsize()));
    out_ += "tQ";
    integer(t.storage_offset());
    out_ += '(';
    for (int64_t d : t.shape()) integer(d);
    out_ += "t(";
    for (int64_t d : t.strides()) integer(d);
    out_ += "t\x89" "ccollections\nOrderedDict\n)Rt" "R";
  }

  const SavedStorage& storage_of(const Tensor& t) {
    for (const SavedStorage& s : storages_) {
      if (s.storage != t.storage()) continue;
      PTHRUN_CHECK(s.dtype == t.dtype(), "save: one storage is viewed as both ", dtype_name(s.dtype), " and ",
                   dtype_name(t.dtype()), "; torch files hold one dtype per storage");
      return s;
    }
    PTHRUN_CHECK(t.storage()->nbytes() % t.itemsize() == 0, "save: a storage of ", t.storage()->nbytes(),
                 " bytes does not hold whole ", dtype_name(t.dtype()), " elements");
    storages_.push_back({t.storage(), t.dtype(), std::to_string(storages_.size())});
    return storages_.back();
  }

  const std::vector<Tensor>& tensors_;
  std::vector<SavedStorage>& storages_;
  std::string out_;
};

// torch's rule: the file's name without its last extension; "archive" when that is not plain ASCII.
std::string archive_root(const std::string& path) {
  std::string stem = std::filesystem::path(path).stem().string();
  for (unsigned char c : stem)
    if (c < 0x20 || c >= 0x7f || c == '/' || c == '\\') return "archive";
  return stem.empty() ? "archive" : stem;
}

void write_storage(ZipWriter& zip, const std::string& name, const std::shared_ptr<Storage>& shared) {
  const Storage& storage = *shared;
  zip.begin(name, storage.nbytes());
  if (storage.device().is_cpu()) {
    zip.write(storage.data(), storage.nbytes());
  } else {
    // A byte view of the device storage, copied out chunk by chunk.
    const Tensor bytes(shared, DType::u8, {static_cast<int64_t>(storage.nbytes())}, {1}, 0);
    Tensor host = Tensor::empty({static_cast<int64_t>(std::min(kCopyChunk, storage.nbytes()))}, DType::u8, cpu_device);
    for (std::size_t at = 0; at < storage.nbytes(); at += kCopyChunk) {
      const auto n = static_cast<int64_t>(std::min(kCopyChunk, storage.nbytes() - at));
      Tensor part = host.slice(0, 0, n);
      part.copy_from(bytes.slice(0, static_cast<int64_t>(at), static_cast<int64_t>(at) + n));
      zip.write(part.data_ptr(), static_cast<std::size_t>(n));
    }
  }
  zip.end();
}

}  // namespace

void save_checkpoint(const std::string& path, const Value& root, const std::vector<Tensor>& tensors) {
  std::vector<SavedStorage> storages;
  const std::string pickle = Pickler(tensors, storages).finish(root);
  const std::string folder = archive_root(path) + "/";
  ZipWriter zip(path);
  zip.add(folder + "data.pkl", pickle);
  zip.add(folder + ".format_version", "1");
  zip.add(folder + ".storage_alignment", "64");
  zip.add(folder + "byteorder", "little");
  for (const SavedStorage& s : storages) {
    check_interrupt();  // the output is written under a temporary name: unwinding removes it
    write_storage(zip, folder + "data/" + s.key, s.storage);
  }
  zip.add(folder + "version", "3\n");
  zip.finish();
}

std::string pickle_value(const Value& root) {
  PTHRUN_CHECK(!root.contains_tensor(), "pickle_value: the tree holds tensors; save them with save_checkpoint");
  std::vector<SavedStorage> unused;
  return Pickler({}, unused).finish(root);
}

void save_state_dict(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors) {
  std::vector<Value> keys, values;
  std::vector<Tensor> leaves;
  for (const auto& [name, tensor] : tensors) {
    keys.push_back(Value::string(name));
    values.push_back(Value::tensor(leaves.size()));
    leaves.push_back(tensor);
  }
  save_checkpoint(path, Value::dict(std::move(keys), std::move(values), true), leaves);
}

}  // namespace pthrun
