// Every positive fixture written by real PyTorch (1.13, 2.5 and 2.15) against its manifest:
// format, zip root and record order, and for every tensor its name, dtype, shape, stride,
// storage offset, storage key and exact values; plain values of checkpoint dicts; state-dict
// selection. The manifests were checked against torch.load when the fixtures were made.
#include <algorithm>
#include <filesystem>
#include <map>

#include "loader/checkpoint.h"
#include "loader/checkpoint_impl.h"
#include "loader/stream_loader.h"
#include "loader/value.h"
#include "loader_test_util.h"

using namespace pthrun;
using namespace pthrun::test;
namespace fs = std::filesystem;

namespace {

const char* const torch_versions[] = {"torch1.13", "torch2.5", "torch2.15"};

// Every manifest of a version folder: (checkpoint path, manifest path).
std::vector<std::pair<std::string, std::string>> fixtures_of(const std::string& version) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& entry : fs::directory_iterator(fixture("loader/" + version))) {
    const std::string path = entry.path().string();
    if (entry.path().extension() != ".json") continue;
    std::string ckpt = path.substr(0, path.size() - 5);
    if (fs::is_directory(ckpt) || fs::is_regular_file(ckpt)) out.emplace_back(ckpt, path);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void check_fixture(const std::string& path, const JsonValue& m) {
  INFO(path);
  const Checkpoint ckpt = Checkpoint::open(path);
  CHECK(format_name(ckpt.format()) == m.at("format").get<std::string>());
  if (ckpt.format() == CheckpointFormat::zip) {
    CHECK(ckpt.impl().zip_root == m.at("root").get<std::string>());
    // The records in on-disk order, as the manifest lists them.
    std::vector<const ZipEntry*> entries;
    for (const ZipEntry& e : ckpt.impl().archives.front()->entries()) entries.push_back(&e);
    std::sort(entries.begin(), entries.end(),
              [](const ZipEntry* a, const ZipEntry* b) { return a->header_offset < b->header_offset; });
    std::vector<std::string> names, expected;
    for (const ZipEntry* e : entries) names.push_back(e->name);
    for (const JsonValue& r : m.at("records")) expected.push_back(r.get<std::string>());
    CHECK(names == expected);
  }

  std::vector<TensorInfo> tensors = ckpt.tensors();
  std::vector<JsonValue> expected = m.at("tensors").get<std::vector<JsonValue>>();
  // Neither a folder nor a safetensors header keeps the order tensors were saved in: compare by name.
  if (ckpt.format() == CheckpointFormat::folder || ckpt.format() == CheckpointFormat::safetensors) {
    std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
    std::sort(expected.begin(), expected.end(),
              [](const JsonValue& a, const JsonValue& b) { return a.at("name").get<std::string>() < b.at("name").get<std::string>(); });
  }
  REQUIRE(tensors.size() == expected.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = tensors[i];
    const JsonValue& e = expected[i];
    INFO("tensor " << e.at("name").get<std::string>());
    CHECK(t.name == e.at("name").get<std::string>());
    CHECK(std::string(dtype_name(t.dtype)) == e.at("dtype").get<std::string>());
    CHECK(dims(t.shape) == json_ints(e.at("shape")));
    CHECK(dims(t.strides) == json_ints(e.at("stride")));
    CHECK(t.storage_offset == e.at("storage_offset").get<int64_t>());
    if (ckpt.format() == CheckpointFormat::folder)
      CHECK(t.storage_key == e.at("file").get<std::string>() + "/" + e.at("storage_key").get<std::string>());
    else if (ckpt.format() == CheckpointFormat::safetensors)
      CHECK(t.storage_key == t.name);  // no sharing: each tensor is its own storage
    else
      CHECK(t.storage_key == e.at("storage_key").get<std::string>());
    const Tensor values = ckpt.read(t);
    CHECK(values.dtype() == t.dtype);
    CHECK(values.shape() == t.shape);
    check_values(values, e.at("values"), path + ": " + t.name);
  }

  // Plain values, path by path, as the manifest's "plain" map has them.
  JsonWriter ours;
  ours.begin_object();
  for (const auto& [name, value] : plain_values(ckpt.root())) {
    ours.key(name);
    write_value_json(ours, *value);
  }
  ours.end_object();
  CHECK_MESSAGE(same_json(parse_json(ours.text()), m.at("plain")), ours.text());
}

}  // namespace

TEST_CASE("every positive fixture matches its manifest, for torch 1.13, 2.5 and 2.15") {
  int checked = 0;
  for (const char* version : torch_versions) {
    for (const auto& [path, manifest_path] : fixtures_of(version)) {
      const JsonValue m = manifest(manifest_path);
      if (m.at("expected").get<std::string>() != "load") continue;
      check_fixture(path, m);
      ++checked;
    }
  }
  CHECK(checked >= 40);
}

TEST_CASE("fixtures of dtypes pthrun lacks are refused, naming the dtype, entry and tensor") {
  for (const std::string name : {"float8", "uint16"}) {
    const std::string path = fixture(str("loader/torch2.15/", name, ".pth"));
    const JsonValue m = manifest(path + ".json");
    REQUIRE(m.at("expected").get<std::string>() == "reject");
    const JsonValue& t = m.at("tensors").front();
    const std::string message = error_of([&] { Checkpoint::open(path); });
    CHECK_MESSAGE(message.find("unsupported dtype " + t.at("dtype").get<std::string>()) != std::string::npos, message);
    CHECK_MESSAGE(message.find(str(name, "/data/0")) != std::string::npos, message);
    CHECK_MESSAGE(message.find(str("'", json_string(t, "name"), "'")) != std::string::npos, message);
    CHECK_MESSAGE(message.find(path) != std::string::npos, message);
  }
}

TEST_CASE("the positive controls of the reject folder load") {
  for (const std::string name : {"control_torchwriter.pth", "control_rawzip.pth"}) {
    const std::string path = fixture(str("reject/", name));
    check_fixture(path, manifest(path + ".json"));
  }
}

TEST_CASE("the state dict is found in a checkpoint dict, or chosen by key") {
  for (const char* version : torch_versions) {
    const Checkpoint ckpt = Checkpoint::open(fixture(str("loader/", version, "/checkpoint.pth")));
    // Only model_state_dict holds tensors directly at the shallowest level.
    std::vector<std::string> names;
    for (const TensorInfo& t : ckpt.state_dict()) names.push_back(t.name);
    CHECK(names == std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
    CHECK(ckpt.state_dict("model_state_dict").size() == 4);
    // A deeper dict of tensors by key: AdamW's state of parameter 0.
    names.clear();
    for (const TensorInfo& t : ckpt.state_dict("optimizer_state_dict.state.0")) names.push_back(t.name);
    CHECK(names == std::vector<std::string>{"step", "exp_avg", "exp_avg_sq"});
    const TensorInfo one = ckpt.state_dict("model_state_dict.fc1.bias").at(0);
    CHECK(one.name.empty());
    CHECK(one.shape == Shape{3});
    // Plain values are reachable through the tree.
    CHECK(ckpt.root().find("epoch")->as_int() == 3);
    CHECK(ckpt.root().find("loss")->as_double() == 0.25);
    CHECK(ckpt.root().find("name")->as_string() == "run-1");
    const std::string missing = error_of([&] { (void)ckpt.state_dict("model_state"); });
    CHECK(missing.find("no entry 'model_state'") != std::string::npos);
    const std::string plain = error_of([&] { (void)ckpt.state_dict("epoch"); });
    CHECK(plain.find("not a dict of tensors") != std::string::npos);
    // List items are reached by index: param_groups.0 is a dict, but holds no tensors.
    const std::string group = error_of([&] { (void)ckpt.state_dict("optimizer_state_dict.param_groups.0"); });
    CHECK(group.find("entry 'optimizer_state_dict.param_groups.0' is a dict without tensor values") != std::string::npos);
  }
  // A plain state dict is its own state dict; a single-tensor file is one unnamed tensor.
  const Checkpoint views = Checkpoint::open(fixture("loader/torch2.15/views.pth"));
  CHECK(views.state_dict().size() == views.tensors().size());
  const Checkpoint single = Checkpoint::open(fixture("loader/torch2.15/per_tensor/norm.scale.pth"));
  REQUIRE(single.state_dict().size() == 1);
  CHECK(single.state_dict()[0].name.empty());
}

TEST_CASE("tied tensors share one storage key; views keep offset and strides") {
  const Checkpoint ckpt = Checkpoint::open(fixture("loader/torch1.13/views.pth"));
  std::map<std::string, TensorInfo> by_name;
  for (const TensorInfo& t : ckpt.tensors()) by_name[t.name] = t;
  CHECK(by_name["tied_a"].storage_key == by_name["tied_b"].storage_key);
  CHECK(by_name["alias"].storage_key == by_name["tied_a"].storage_key);
  CHECK(by_name["column"].storage_offset == 2);
  CHECK(by_name["transposed"].strides == Strides{1, 4});
  // torch 1.13 stores data/<k> in string order: data/10 before data/2 on disk.
  const ZipArchive& zip = *ckpt.impl().archives.front();
  CHECK(zip.find("views/data/10")->header_offset < zip.find("views/data/2")->header_offset);
}

TEST_CASE("legacy files over 256 MiB load: the pickle's limit is on the pickle, not the file") {
  // Written at test time by real torch (tests/write_large_legacy.py): 300 MB of float32 after
  // a small pickle, one storage tagged cuda:0 as a checkpoint saved from a GPU.
  const std::vector<std::string> pythons = torch_pythons();
  if (pythons.empty()) {
    MESSAGE("no Python with torch was found at configure time: no large legacy file to read");
    return;
  }
  TempDir dir;
  const std::string path = path_in(dir, "large_legacy.pth");
  const std::string command = str(pythons.front(), " ", PTHRUN_SOURCE_DIR, "/tests/write_large_legacy.py ", path);
  REQUIRE(std::system(command.c_str()) == 0);
  REQUIRE(std::filesystem::file_size(path) > (uint64_t(256) << 20));
  const Checkpoint ckpt = Checkpoint::open(path);
  CHECK(ckpt.format() == CheckpointFormat::legacy);
  const std::vector<TensorInfo> tensors = ckpt.state_dict();
  REQUIRE(tensors.size() == 2);
  CHECK(tensors[0].name == "big");
  CHECK(tensors[0].shape == Shape{75'000'000});
  CHECK(ckpt.read(tensors[1]).to_doubles() == std::vector<double>{0.5, -1.5, 2.5, -3.5});  // the cuda:0 one
  // Both ends of the big one, through views of it.
  TensorInfo head = tensors[0], tail = tensors[0];
  head.shape = tail.shape = Shape{4096};
  tail.storage_offset = 75'000'000 - 4096;
  const std::vector<double> first = ckpt.read(head).to_doubles(), last = ckpt.read(tail).to_doubles();
  for (int64_t i = 0; i < 4096; ++i) {
    CHECK(first[static_cast<std::size_t>(i)] == static_cast<double>(i % 4093));
    CHECK(last[static_cast<std::size_t>(i)] == static_cast<double>((75'000'000 - 4096 + i) % 4093));
  }
}
