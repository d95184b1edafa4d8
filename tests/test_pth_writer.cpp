// The .pth writer: pthrun reads back what it writes; real PyTorch (every torch importable by
// a Python found at configure time) reads it with torch.load(weights_only=True) and gets the
// same dtypes, shapes, strides, offsets, shared storages and values; records are 64-byte
// aligned with correct CRCs; and a checkpoint over 4 GiB gets ZIP64 records that pthrun,
// Python's zipfile and torch (mmap) all read at both ends.
#include <sys/mman.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "loader/checkpoint.h"
#include "loader/checkpoint_impl.h"
#include "loader/pth_writer.h"
#include "loader/stream_loader.h"
#include "loader/zip_archive.h"
#include "loader_test_util.h"

using namespace pthrun;
using namespace pthrun::test;

namespace {

// Runs the checker script; its JSON output, or a failed check with its stderr.
std::optional<JsonValue> torch_load(const std::string& python, const std::string& file, const std::string& extra = "") {
  // file and extra are the script's arguments, in that order
  TempDir dir;
  const std::string out = path_in(dir, "out.json"), err = path_in(dir, "err.txt");
  const std::string command = str(python, " ", PTHRUN_SOURCE_DIR, "/tests/torch_load_check.py ", file, " ", extra,
                                  " > ", out, " 2> ", err);
  const int rc = std::system(command.c_str());
  if (rc != 0) {
    FAIL_CHECK(python << " could not read " << file << ":\n" << read_file(err));
    return std::nullopt;
  }
  return parse_json(read_file(out));
}

Value str_value(const char* s) { return Value::string(s); }

// The sources every test saves: every dtype with its awkward values, views sharing a
// storage, a tensor saved twice, a 0-d and an empty tensor.
struct Sources {
  std::vector<Tensor> tensors;
  Value state_dict;

  Sources() {
    std::vector<Value> keys, values;
    auto add = [&](const std::string& name, Tensor t) {
      keys.push_back(Value::string(name));
      values.push_back(Value::tensor(tensors.size()));
      tensors.push_back(std::move(t));
    };
    const float inf = INFINITY, nan = NAN;
    add("f32", Tensor::from_vector<float>({0.1f, -2.5f, 3.4028235e38f, 1.4e-45f, -0.0f, inf, -inf, nan}, {2, 4}));
    add("f16", Tensor::from_vector<float>({65504, -65504, -0.0f, 5.96e-08f, 6.1035e-05f, inf, nan, 0.3333f}, {2, 4}).to(DType::f16));
    add("bf16", Tensor::from_vector<float>({3.38e38f, -1, -0.0f, 9.18e-41f, 1e-7f, inf, -inf, nan}, {8}).to(DType::bf16));
    add("f64", Tensor::from_vector<double>({3.141592653589793, -1e308, 5e-324, -0.0}, {4}));
    add("i64", Tensor::from_vector<int64_t>({0, -1, INT64_MAX, INT64_MIN, 1234567890123, -42}, {2, 3}));
    add("i32", Tensor::from_vector<int32_t>({0, -1, INT32_MAX, INT32_MIN}, {4}));
    add("i16", Tensor::from_vector<int16_t>({0, -1, 32767, -32768}, {2, 2}));
    add("i8", Tensor::from_vector<int8_t>({0, -1, 127, -128}, {4}));
    add("u8", Tensor::from_vector<uint8_t>({0, 1, 128, 255}, {4}));
    const uint8_t mask[] = {1, 0, 1};
    add("mask", Tensor::from_host(mask, {3}, DType::boolean));
    Tensor base = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4});
    add("base", base);
    add("transposed", base.transpose(0, 1));
    add("column", base.select(1, 2));
    add("rows", base.slice(0, 1, 3));
    add("tied", tensors.at(0));  // the same tensor under a second name
    add("scalar", Tensor::from_vector<float>({3.5f}, {}));
    add("empty", Tensor::empty({0, 3}, DType::f32));
    state_dict = Value::dict(std::move(keys), std::move(values), true);
  }

  // A checkpoint dict around the state dict, with plain values of every kind.
  Value checkpoint(bool with_floats) const {
    std::vector<Value> keys{str_value("model_state_dict"), str_value("epoch"), str_value("name"), str_value("flags"),
                            str_value("shape"), Value::integer(7)};
    std::vector<Value> values{state_dict, Value::integer(3), str_value("run-1"),
                              Value::list({Value::boolean(true), Value(), Value::integer(-5)}),
                              Value::tuple({Value::integer(1), Value::integer(2), Value::integer(3), Value::integer(4)}),
                              Value::dict({Value::integer(1)}, {str_value("int key")})};
    if (with_floats) {
      keys.push_back(str_value("loss"));
      values.push_back(Value::floating(0.25));
      keys.push_back(str_value("lr"));
      values.push_back(Value::list({Value::floating(1e-3), Value::floating(-0.0), Value::floating(NAN)}));
    }
    return Value::dict(std::move(keys), std::move(values));
  }
};

void encode_number(JsonWriter& out, double f) {
  if (std::isnan(f)) out.value("nan");
  else if (std::isinf(f)) out.value(f > 0 ? "inf" : "-inf");
  else if (f == 0 && std::signbit(f)) out.value("-0.0");
  else out.value(f);
}

// What torch_load_check.py prints for `v`, computed from what was saved.
void expected(JsonWriter& out, const Value& v, const std::vector<Tensor>& tensors, std::vector<const Storage*>& seen) {
  switch (v.kind()) {
    case Value::Kind::none: out.null(); return;
    case Value::Kind::boolean: out.value(v.as_bool()); return;
    case Value::Kind::integer: out.value(v.as_int()); return;
    case Value::Kind::floating: encode_number(out, v.as_double()); return;
    case Value::Kind::string: out.value(v.as_string()); return;
    case Value::Kind::bytes: FAIL("no bytes in these tests"); return;
    case Value::Kind::list:
      out.begin_array();
      for (const Value& item : v.items()) expected(out, item, tensors, seen);
      out.end_array();
      return;
    case Value::Kind::tuple:
      out.begin_object().key("tuple").begin_array();
      for (const Value& item : v.items()) expected(out, item, tensors, seen);
      out.end_array().end_object();
      return;
    case Value::Kind::dict:
      out.begin_object().key("dict").begin_array();
      for (std::size_t i = 0; i < v.items().size(); ++i) {
        out.begin_array();
        expected(out, v.keys()[i], tensors, seen);
        expected(out, v.items()[i], tensors, seen);
        out.end_array();
      }
      out.end_array().key("ordered").value(v.ordered()).end_object();
      return;
    case Value::Kind::tensor: {
      const Tensor& t = tensors.at(v.tensor_index());
      auto it = std::find(seen.begin(), seen.end(), t.storage().get());
      if (it == seen.end()) it = seen.insert(seen.end(), t.storage().get());
      out.begin_object().key("tensor").begin_object().key("dtype").value(dtype_name(t.dtype()));
      out.key("shape").begin_array();
      for (int64_t d : t.shape()) out.value(d);
      out.end_array().key("stride").begin_array();
      for (int64_t d : t.strides()) out.value(d);
      out.end_array().key("storage_offset").value(t.storage_offset());
      out.key("storage").value(static_cast<int64_t>(it - seen.begin())).key("values").begin_array();
      const Tensor c = t.contiguous();
      for (int64_t i = 0; i < c.numel(); ++i) {
        if (is_floating(c.dtype())) encode_number(out, element(c, i));
        else out.value(int_element(c, i));
      }
      out.end_array().end_object().end_object();
      return;
    }
  }
}

JsonValue expected_json(const Value& root, const std::vector<Tensor>& tensors) {
  JsonWriter out;
  std::vector<const Storage*> seen;
  expected(out, root, tensors, seen);
  return parse_json(out.text());
}

// pthrun's own reading of a saved file against the sources, tensor by tensor.
void check_read_back(const std::string& path, const Sources& s, const std::string& prefix) {
  const Checkpoint ckpt = Checkpoint::open(path);
  const auto& keys = s.state_dict.keys();
  const std::vector<TensorInfo> infos = ckpt.state_dict();
  REQUIRE(infos.size() == keys.size());
  std::map<const Storage*, std::string> storage_keys;
  for (std::size_t i = 0; i < infos.size(); ++i) {
    const Tensor& src = s.tensors[s.state_dict.items()[i].tensor_index()];
    const TensorInfo& t = infos[i];
    INFO(t.name);
    CHECK(t.name == keys[i].as_string());
    CHECK(ckpt.tensors()[i].name == prefix + t.name);
    CHECK(t.dtype == src.dtype());
    CHECK(t.shape == src.shape());
    CHECK(t.strides == src.strides());
    CHECK(t.storage_offset == src.storage_offset());
    auto [it, inserted] = storage_keys.emplace(src.storage().get(), t.storage_key);
    CHECK(it->second == t.storage_key);  // shared storages share a key, others do not
    const Tensor back = ckpt.read(t), want = src.contiguous();
    for (int64_t k = 0; k < want.numel(); ++k) {
      if (is_floating(want.dtype())) {
        const double a = element(back, k), b = element(want, k);
        CHECK(((a == b && std::signbit(a) == std::signbit(b)) || (std::isnan(a) && std::isnan(b))));
      } else {
        CHECK(int_element(back, k) == int_element(want, k));
      }
    }
  }
  std::set<std::string> distinct;
  for (const auto& [storage, key] : storage_keys) distinct.insert(key);
  CHECK(distinct.size() == storage_keys.size());
}

// Read-only anonymous memory that is all zeros until written: a huge tensor that costs
// nothing until touched (reads map the kernel's zero page).
class ZeroMapping {
 public:
  explicit ZeroMapping(std::size_t bytes) : bytes_(bytes) {
    data_ = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    REQUIRE(data_ != MAP_FAILED);
  }
  ~ZeroMapping() { ::munmap(data_, bytes_); }
  void* data() const { return data_; }

 private:
  void* data_;
  std::size_t bytes_;
};

}  // namespace

TEST_CASE("pthrun reads back what it writes: dtypes, views, tied storages, plain values") {
  TempDir dir;
  const Sources s;
  save_checkpoint(path_in(dir, "state.pth"), s.state_dict, s.tensors);
  check_read_back(path_in(dir, "state.pth"), s, "");
  save_checkpoint(path_in(dir, "ckpt.pth"), s.checkpoint(true), s.tensors);
  check_read_back(path_in(dir, "ckpt.pth"), s, "model_state_dict.");
  const Checkpoint ckpt = Checkpoint::open(path_in(dir, "ckpt.pth"));
  CHECK(ckpt.zip_root() == "ckpt");
  CHECK(ckpt.root().find("epoch")->as_int() == 3);
  CHECK(ckpt.root().find("loss")->as_double() == 0.25);
  CHECK(ckpt.root().find("shape")->items().size() == 4);
  CHECK(ckpt.root().find("7")->find("1")->as_string() == "int key");
  // save_state_dict is the same as an OrderedDict of the tensors.
  std::vector<std::pair<std::string, Tensor>> named;
  for (std::size_t i = 0; i < s.tensors.size(); ++i)
    named.emplace_back(s.state_dict.keys()[i].as_string(), s.tensors[s.state_dict.items()[i].tensor_index()]);
  save_state_dict(path_in(dir, "named.pth"), named);
  check_read_back(path_in(dir, "named.pth"), s, "");
  CHECK(read_file(path_in(dir, "named.pth")).substr(0, 4) == "PK\x03\x04");
}

TEST_CASE("records are stored, 64-byte aligned, with correct CRCs, in torch's order") {
  TempDir dir;
  const Sources s;
  save_checkpoint(path_in(dir, "aligned.pth"), s.state_dict, s.tensors);
  const auto zip = ZipArchive::open(MappedFile::open(path_in(dir, "aligned.pth")));
  std::vector<std::string> names;
  for (const ZipEntry& e : zip->entries()) {
    names.push_back(e.name);
    CHECK(e.stored());
    CHECK(e.data_offset % 64 == 0);
    const auto bytes = zip->stored_bytes(e);
    CHECK(static_cast<uint32_t>(crc32(0, bytes.data(), static_cast<uInt>(bytes.size()))) == e.crc);
  }
  // data.pkl, .format_version, .storage_alignment, byteorder, data/0..n in numeric order, version
  REQUIRE(names.size() >= 6);
  CHECK(names[0] == "aligned/data.pkl");
  CHECK(names[1] == "aligned/.format_version");
  CHECK(names[2] == "aligned/.storage_alignment");
  CHECK(names[3] == "aligned/byteorder");
  for (std::size_t i = 4; i + 1 < names.size(); ++i) CHECK(names[i] == "aligned/data/" + std::to_string(i - 4));
  CHECK(names.back() == "aligned/version");
}

TEST_CASE("real PyTorch loads what pthrun writes, with weights_only=True") {
  const auto pythons = torch_pythons();
  if (pythons.empty()) {
    MESSAGE("no Python with torch was found at configure time: the writer could not be compared with PyTorch");
    return;
  }
  TempDir dir;
  const Sources s;
  for (const std::string& python : pythons) {
    INFO(python);
    // torch 1.13's weights_only unpickler lacks BINFLOAT: plain floats only for torch 2.
    save_checkpoint(path_in(dir, "state.pth"), s.checkpoint(false), s.tensors);
    const auto got = torch_load(python, path_in(dir, "state.pth"));
    if (!got) continue;
    const std::string version = got->at("torch").get<std::string>();
    MESSAGE(python, ": torch ", version);
    CHECK_MESSAGE(same_json(got->at("value"), expected_json(s.checkpoint(false), s.tensors)), python);
    if (version[0] >= '2') {
      save_checkpoint(path_in(dir, "floats.pth"), s.checkpoint(true), s.tensors);
      const auto with_floats = torch_load(python, path_in(dir, "floats.pth"));
      if (with_floats) CHECK(same_json(with_floats->at("value"), expected_json(s.checkpoint(true), s.tensors)));
    }
  }
}

TEST_CASE("a checkpoint over 4 GiB gets ZIP64 records, read back at both ends") {
  TempDir dir;
  const std::string path = path_in(dir, "huge.pth");
  // 4 GiB + 64 KiB of float32: zeros in the middle become holes, so the file is sparse.
  const int64_t n = (int64_t(4) << 30) / 4 + 16384;
  ZeroMapping memory(static_cast<std::size_t>(n) * 4);
  float* p = static_cast<float*>(memory.data());
  for (int64_t i = 0; i < 1024; ++i) {
    p[i] = static_cast<float>(i) + 0.5f;
    p[n - 1 - i] = -static_cast<float>(i) - 0.25f;
  }
  std::shared_ptr<Storage> storage = Storage::borrow(memory.data(), static_cast<std::size_t>(n) * 4, cpu_device, nullptr);
  const Tensor big(storage, DType::f32, {n}, {1}, 0);
  const Tensor after = Tensor::from_vector<int64_t>({7, -7, 1 << 30}, {3});  // its record lies past 4 GiB
  save_state_dict(path, {{"big", big}, {"after", after}});

  const Checkpoint ckpt = Checkpoint::open(path);  // libzip cross-checks every entry, ZIP64 included
  const TensorInfo big_info = ckpt.state_dict().at(0), after_info = ckpt.state_dict().at(1);
  CHECK(big_info.shape == Shape{n});
  CHECK(ckpt.impl().archives.front()->find("huge/data/1")->header_offset > (uint64_t(4) << 30));
  CHECK(ckpt.read(after_info).to_doubles() == std::vector<double>{7, -7, 1 << 30});
  // Both ends of the big tensor, through views of it (offsets beyond 4 GiB).
  TensorInfo head = big_info, tail = big_info;
  head.shape = tail.shape = Shape{1024};
  tail.storage_offset = n - 1024;
  const std::vector<double> first = ckpt.read(head).to_doubles(), last = ckpt.read(tail).to_doubles();
  for (int64_t i = 0; i < 1024; ++i) {
    CHECK(first[static_cast<std::size_t>(i)] == i + 0.5);
    CHECK(last[static_cast<std::size_t>(1023 - i)] == -i - 0.25);
  }
  // Independent readers: Python's zipfile finds the ZIP64 sizes and offsets; torch with mmap
  // (torch >= 2.1) reads the same values at both ends.
  for (const std::string& python : torch_pythons()) {
    INFO(python);
    const auto info = torch_load(python, "--zipinfo", path);
    REQUIRE(info);
    const JsonValue& entries = info->at("value");
    bool found = false;
    for (const JsonValue& e : entries) {
      if (e[0].get<std::string>() != "huge/data/0") continue;
      found = true;
      CHECK(e[1].get<uint64_t>() == static_cast<uint64_t>(n) * 4);
    }
    CHECK(found);
    const auto ends = torch_load(python, path, "big 1024");
    REQUIRE(ends);
    if (ends->at("value").is_null()) {
      MESSAGE(python, ": torch ", ends->at("torch").get<std::string>(), " cannot mmap; ends not compared with torch");
      continue;
    }
    const JsonValue& v = ends->at("value");
    CHECK(v.at("shape")[0].get<int64_t>() == n);
    for (int64_t i = 0; i < 1024; ++i) {
      CHECK(v.at("first")[static_cast<std::size_t>(i)].get<double>() == i + 0.5);
      CHECK(v.at("last")[static_cast<std::size_t>(1023 - i)].get<double>() == -i - 0.25);
    }
  }
}
