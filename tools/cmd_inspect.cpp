// pthrun inspect: what a checkpoint holds, without loading it: the format, one row per
// tensor (name, dtype, shape, stride, storage offset, bytes) and the plain values.
//
// Every name and value from the file is printed escaped (runtime/quote.h): the table is one
// line per tensor whatever a name holds, and --json is valid UTF-8 JSON.
//
// --json prints the same as one JSON object (schema "pthrun.inspect/1", in the README):
//   {"schema": "pthrun.inspect/1", "file": ..., "format": "zip", "key": null,
//    "tensors": [{"name", "dtype", "shape", "stride", "storage_offset", "storage_key", "nbytes"}],
//    "total_bytes": ..., "plain": {"epoch": 3, ...}}
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "loader/checkpoint.h"
#include "loader/value.h"
#include "runtime/error.h"
#include "runtime/json.h"
#include "runtime/quote.h"
#include "tools/cli.h"

namespace pthrun::cli {

namespace {

// Names are at most this long (the loader refuses longer ones): shown whole.
constexpr std::size_t kMaxNameBytes = 1024;

std::vector<int64_t> as_vector(const Dims& dims) { return std::vector<int64_t>(dims.begin(), dims.end()); }

void print_json(const Checkpoint& ckpt, const std::string& key, const std::vector<TensorInfo>& tensors) {
  JsonWriter out;
  out.begin_object().key("schema").value("pthrun.inspect/1").key("file").value(ckpt.path());
  out.key("format").value(format_name(ckpt.format())).key("key");
  if (key.empty()) out.null();
  else out.value(key);
  uint64_t total = 0;
  out.key("tensors").begin_array();
  for (const TensorInfo& t : tensors) {
    out.newline().begin_object().key("name").value(t.name).key("dtype").value(dtype_name(t.dtype));
    out.key("shape").begin_array();
    for (int64_t d : as_vector(t.shape)) out.value(d);
    out.end_array().key("stride").begin_array();
    for (int64_t d : as_vector(t.strides)) out.value(d);
    out.end_array().key("storage_offset").value(t.storage_offset).key("storage_key").value(t.storage_key);
    out.key("nbytes").value(t.nbytes()).end_object();
    total += t.nbytes();
  }
  out.end_array().key("total_bytes").value(total).key("plain").begin_object();
  for (const auto& [name, value] : plain_values(ckpt.root())) {
    out.key(name);
    write_value_json(out, *value);
  }
  out.end_object().end_object();
  std::printf("%s\n", out.text().c_str());
}

// A value as JSON (escaped, valid UTF-8), cut after 117 bytes at a character's start.
std::string plain_text(const Value& value) {
  JsonWriter out;
  write_value_json(out, value);
  std::string text = out.take();
  if (text.size() <= 120) return text;
  std::size_t cut = 117;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
  return text.substr(0, cut) + "...";
}

void print_table(const Checkpoint& ckpt, const std::string& key, const std::vector<TensorInfo>& tensors) {
  std::printf("file: %s\nformat: %s", printable(ckpt.path()).c_str(), format_name(ckpt.format()));
  if (ckpt.format() == CheckpointFormat::zip) std::printf(" (root folder %s)", in_quotes(ckpt.zip_root()).c_str());
  std::printf("\n");
  if (!key.empty()) std::printf("key: %s\n", printable(key).c_str());
  struct Row {
    std::string cells[6];
  };
  std::vector<Row> rows{{{"name", "dtype", "shape", "stride", "offset", "nbytes"}}};
  uint64_t total = 0;
  for (const TensorInfo& t : tensors) {
    rows.push_back(
        {{t.name.empty() ? "(unnamed)" : printable(t.name, kMaxNameBytes), dtype_name(t.dtype), t.shape.to_string(),
          t.strides.to_string(), std::to_string(t.storage_offset), std::to_string(t.nbytes())}});
    total += t.nbytes();
  }
  std::printf("tensors: %zu, %s\n\n", tensors.size(), format_bytes(static_cast<double>(total)).c_str());
  std::size_t width[6] = {};
  for (const Row& r : rows)
    for (int c = 0; c < 6; ++c) width[c] = std::max(width[c], r.cells[c].size());
  for (const Row& r : rows) {
    std::string line;
    for (int c = 0; c < 6; ++c) {
      std::string cell = r.cells[c];
      const std::size_t pad = width[c] - cell.size();
      // Text left-aligned, numbers right-aligned.
      cell = c >= 4 ? std::string(pad, ' ') + cell : cell + std::string(pad, ' ');
      line += (c ? "  " : "") + cell;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
  const auto plain = plain_values(ckpt.root());
  if (!plain.empty()) {
    std::printf("\nplain values:\n");
    for (const auto& [name, value] : plain)
      std::printf("  %s = %s\n", name.empty() ? "(root)" : printable(name, kMaxNameBytes).c_str(),
                  plain_text(*value).c_str());
  }
}

struct InspectArgs {
  std::string checkpoint, key;
  bool json = false;
};

int run_inspect(const InspectArgs& args) {
  const std::string& key = args.key;
  const Checkpoint ckpt = Checkpoint::open(args.checkpoint);
  const std::vector<TensorInfo> tensors = key.empty() ? ckpt.tensors() : ckpt.state_dict(key);
  if (args.json) print_json(ckpt, key, tensors);
  else print_table(ckpt, key, tensors);
  return 0;
}

}  // namespace

extern const Command inspect_command = {
    "inspect", "List the tensors and plain values of a checkpoint",
    [](CLI::App& app) {
      auto args = std::make_shared<InspectArgs>();
      app.add_option("CKPT", args->checkpoint, "the checkpoint")->required();
      app.add_option("--key", args->key, "list the dict of tensors at this '.'-joined key (e.g. model_state_dict)")
          ->type_name("K");
      app.add_flag("--json", args->json, "print JSON (schema pthrun.inspect/1) instead of a table");
      return [args] { return run_inspect(*args); };
    },
    "CKPT is a torch.save file (zip or legacy), a .safetensors file, or a folder of one .pth\n"
    "per tensor; the format is detected from the content. Nothing is executed and no tensor\n"
    "data is read. Without --key every tensor is listed by its full key path."};

}  // namespace pthrun::cli
