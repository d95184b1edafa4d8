// pthrun dump: one tensor's values as a NumPy .npy file, contiguous, in the tensor's own dtype
// (bfloat16, which NumPy lacks, widened exactly to float32).
#include <cstdio>
#include <string>

#include "loader/checkpoint.h"
#include "loader/npy.h"
#include "runtime/error.h"
#include "runtime/quote.h"
#include "tools/cli.h"

namespace pthrun::cli {

namespace {

const TensorInfo* find(const std::vector<TensorInfo>& tensors, const std::string& name) {
  for (const TensorInfo& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

struct DumpArgs {
  std::string checkpoint, name, output, key;
};

int run_dump(const DumpArgs& args) {
  const std::string& path = args.checkpoint;
  const std::string& name = args.name;
  const std::string* out = &args.output;
  const std::string& key = args.key;
  const Checkpoint ckpt = Checkpoint::open(path);
  // With --key, names are relative to that dict; without, full key paths, then the names of
  // the state dict pthrun picks on its own.
  std::vector<TensorInfo> candidates = key.empty() ? ckpt.tensors() : ckpt.state_dict(key);
  const TensorInfo* info = find(candidates, name);
  if (!info && key.empty()) {
    try {
      candidates = ckpt.state_dict();
      info = find(candidates, name);
    } catch (const Error&) {
      // no unambiguous state dict: the full names were the only candidates
    }
  }
  PTHRUN_CHECK(info, path, ": no tensor named '", name, "'", key.empty() ? "" : str(" under key '", key, "'"),
               "; 'pthrun inspect ", path, "' lists them");
  const Tensor values = ckpt.read(*info);
  write_npy(*out, values);
  std::printf("%s: %s %s -> %s\n", printable(name).c_str(), dtype_name(values.dtype()),
              values.shape().to_string().c_str(), printable(*out).c_str());
  return 0;
}

}  // namespace

extern const Command dump_command = {
    "dump", "Write one tensor of a checkpoint to a NumPy .npy file",
    [](CLI::App& app) {
      auto args = std::make_shared<DumpArgs>();
      app.add_option("CKPT", args->checkpoint, "the checkpoint")->required();
      app.add_option("NAME", args->name, "the tensor's name")->required();
      app.add_option("-o,--output", args->output, "the file to write")->type_name("OUT.npy")->required();
      app.add_option("--key", args->key, "look NAME up in the dict of tensors at this key")->type_name("K");
      return [args] { return run_dump(*args); };
    },
    "NAME is a full key path as 'pthrun inspect CKPT' lists it, or a name in the state dict\n"
    "pthrun picks. The values are written contiguous, C order, in the tensor's dtype:\n"
    "float16 as '<f2'; bfloat16, which NumPy lacks, widened exactly to float32 '<f4'."};

}  // namespace pthrun::cli
