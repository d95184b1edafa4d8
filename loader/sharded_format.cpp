// Hugging Face's save_pretrained layouts: a folder with config.json and one weights file, or a
// sharded checkpoint, whose index file maps every tensor to the shard that holds it:
//
//   model.safetensors.index.json   {"metadata": {...}, "weight_map": {"transformer.wte.weight":
//                                    "model-00001-of-00002.safetensors", ...}}
//   pytorch_model.bin.index.json   the same, for pytorch_model-00001-of-00002.bin (torch.save)
//
// Each shard is read as the single file it is (zip, legacy or safetensors), its storage keys
// prefixed with its file name, so every record keeps its own mapping and the stream loader
// copies shard after shard exactly as it copies one file: host memory does not grow with the
// number or size of shards. The index is checked against the shards: every shard it names
// exists beside it, every tensor it maps is in that shard, no tensor is in two shards, and no
// shard holds a tensor the index does not map.
#include <filesystem>
#include <map>
#include <regex>

#include "loader/checkpoint_impl.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/json.h"
#include "runtime/quote.h"

namespace pthrun {

namespace {

// An index lists a few thousand tensors (gpt2-xl: 580): one of 64 MiB is not an index.
constexpr std::size_t kMaxIndexBytes = std::size_t(64) << 20;
constexpr std::size_t kMaxShards = 1 << 16;

// "model-00002-of-00005.safetensors" -> {2, 5}; {0, 0} for other names.
std::pair<int, int> shard_number(const std::string& filename) {
  static const std::regex pattern(R"(.*-(\d{5})-of-(\d{5})\.(safetensors|bin|pt|pth)$)");
  std::smatch m;
  if (!std::regex_match(filename, m, pattern)) return {0, 0};
  return {std::stoi(m[1].str()), std::stoi(m[2].str())};
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A shard's name in an index must be a plain file name beside the index.
void check_shard_name(const std::string& index_path, const std::string& tensor, const std::string& shard) {
  const bool plain = !shard.empty() && shard != "." && shard != ".." && shard.find('/') == std::string::npos &&
                     shard.find('\\') == std::string::npos && shard.find('\0') == std::string::npos;
  PTHRUN_CHECK_AT(index_path, plain, "weight_map entry ", in_quotes(tensor), ": shard ", in_quotes(shard),
                  " is not a file name beside the index");
}

}  // namespace

bool is_shard_index(const std::string& path) { return ends_with(path, ".index.json"); }

void check_not_a_shard(const std::string& path) {
  const std::filesystem::path file(path);
  const auto [n, m] = shard_number(file.filename().string());
  if (m < 2) return;
  const std::string name = file.filename().string();
  const std::string index = ends_with(name, ".safetensors") ? "model.safetensors.index.json"
                                                            : "pytorch_model.bin.index.json";
  const std::filesystem::path beside = file.parent_path() / index;
  throw Error(path, str("this file is shard ", n, " of ", m, " of a sharded checkpoint; pass the index file ",
                        in_quotes(beside.string()), " or its folder instead"));
}

std::string hf_weights_file(const std::string& folder) {
  for (const char* name : {"model.safetensors.index.json", "pytorch_model.bin.index.json", "model.safetensors",
                           "pytorch_model.bin"}) {
    const std::filesystem::path candidate = std::filesystem::path(folder) / name;
    std::error_code error;
    if (std::filesystem::is_regular_file(candidate, error)) return candidate.string();
  }
  return {};
}

Part read_sharded(Checkpoint::Impl& impl, const std::string& index_path) {
  const std::string text = read_file(index_path, kMaxIndexBytes);
  impl.metadata_bytes += text.size();
  const JsonValue index = with_context({index_path}, [&] { return parse_json(text); });
  PTHRUN_CHECK_AT(index_path, index.is_object() && json_find(index, "weight_map"),
                  "not a sharded checkpoint's index: expected a JSON object with \"weight_map\"");
  const JsonValue& weight_map = with_context({index_path}, [&]() -> const JsonValue& {
    return json_object(json_at(index, "weight_map"));
  });
  PTHRUN_CHECK_AT(index_path, !weight_map.empty(), "\"weight_map\" maps no tensor");

  // Shard name -> the tensors the index puts there, in the index's order.
  std::map<std::string, std::vector<std::string>> shards;
  for (const auto& [tensor, shard] : weight_map.items()) {
    PTHRUN_CHECK_AT(index_path, shard.is_string(), "weight_map entry ", in_quotes(tensor),
                    ": expected a shard file name (a string)");
    check_shard_name(index_path, tensor, shard.get<std::string>());
    shards[shard.get<std::string>()].push_back(tensor);
    PTHRUN_CHECK_AT(index_path, shards.size() <= kMaxShards, "more than ", kMaxShards, " shards");
  }

  // Every shard's tensors first, then the checks, so that a tensor in two shards is reported as
  // that rather than as a mismatch with the index.
  const std::filesystem::path folder = std::filesystem::path(index_path).parent_path();
  struct Found {
    std::string name, shard;
    RawTensor tensor;
  };
  std::vector<Found> found;
  for (const auto& [shard, listed] : shards) {
    const std::string shard_path = (folder / shard).string();
    std::error_code error;
    PTHRUN_CHECK_AT(index_path, std::filesystem::is_regular_file(shard_path, error), "weight_map entry ",
                    in_quotes(listed.front()), " names shard ", in_quotes(shard), ", which is not there (",
                    shard_path, ")");
    Part one = with_context({shard_path}, [&] { return read_single_file(impl, shard_path, shard + "/", false); });
    PTHRUN_CHECK_AT(shard_path, one.root.kind() == Value::Kind::dict,
                    "a shard must hold a dict of tensors; this one holds a ", kind_name(one.root.kind()));
    for (std::size_t i = 0; i < one.root.items().size(); ++i) {
      const Value& item = one.root.items()[i];
      if (item.kind() != Value::Kind::tensor) continue;  // safetensors' __metadata__ is no tensor
      found.push_back({one.root.keys()[i].key_text(), shard, one.tensors.at(item.tensor_index())});
    }
  }
  std::map<std::string, std::string> found_in;  // tensor -> the shard that holds it
  for (const Found& f : found) {
    const auto [it, first] = found_in.emplace(f.name, f.shard);
    PTHRUN_CHECK_AT(index_path, first, "tensor ", in_quotes(f.name), " is in two shards, ", in_quotes(it->second),
                    " and ", in_quotes(f.shard));
  }
  Part part;
  std::vector<Value> keys, values;
  for (Found& f : found) {
    const auto mapped = weight_map.find(f.name);
    PTHRUN_CHECK_AT(index_path, mapped != weight_map.end(), "shard ", in_quotes(f.shard), " holds tensor ",
                    in_quotes(f.name), ", which weight_map does not list");
    PTHRUN_CHECK_AT(index_path, mapped->get<std::string>() == f.shard, "weight_map entry ", in_quotes(f.name),
                    " names shard ", in_quotes(mapped->get<std::string>()), ", but the tensor is in ",
                    in_quotes(f.shard));
    keys.push_back(Value::string(f.name));
    values.push_back(Value::tensor(part.tensors.size()));
    part.tensors.push_back(std::move(f.tensor));
  }
  for (const auto& [shard, listed] : shards)
    for (const std::string& tensor : listed)
      PTHRUN_CHECK_AT(index_path, found_in.count(tensor), "weight_map entry ", in_quotes(tensor), " names shard ",
                      in_quotes(shard), ", which does not hold it");
  part.root = Value::dict(std::move(keys), std::move(values), true);
  return part;
}

}  // namespace pthrun
