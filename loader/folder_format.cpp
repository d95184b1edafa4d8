// A folder with one torch.save(tensor) file per tensor, each named after its tensor:
//
//   weights/tok_emb.weight.pth, weights/trf_blocks.0.att.W_query.weight.pth, ...
//
// People save weights this way to keep host memory low while saving. Every *.pt / *.pth file
// is read as a checkpoint of its own (zip or legacy) that must hold exactly one tensor; the
// tensor's name is the file name without its last extension. Other files (a config.json, a
// README) are ignored. Storage keys are prefixed with the file name, so they stay unique.
// Errors name the file they are about; file names are printed escaped (runtime/quote.h).
#include <algorithm>
#include <filesystem>

#include "loader/checkpoint_impl.h"
#include "runtime/error.h"

namespace pthrun {

namespace {

constexpr std::size_t kMaxFiles = 1 << 16;

bool is_tensor_file(const std::filesystem::path& file) {
  const std::string ext = file.extension().string();
  return ext == ".pt" || ext == ".pth";
}

Part read_tensor_file(Checkpoint::Impl& impl, const std::filesystem::path& file) {
  std::shared_ptr<const MappedFile> mapped = MappedFile::open(file.string());
  const std::string filename = file.filename().string();
  const CheckpointFormat format = detect_file_format(*mapped);
  PTHRUN_CHECK(format == CheckpointFormat::zip || format == CheckpointFormat::legacy,
               "a folder checkpoint holds torch.save files only, not ", format_name(format));
  try {
    Part one = format == CheckpointFormat::zip ? read_zip_checkpoint(impl, mapped, filename + "/")
                                               : read_legacy_checkpoint(impl, mapped, filename + "/");
    mapped->check_intact();
    return one;
  } catch (const Error&) {
    mapped->check_intact();  // a file cut short while parsing: that, not its zeros, is the error
    throw;
  }
}

}  // namespace

Part read_folder(Checkpoint::Impl& impl, const std::string& path) {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  for (std::filesystem::directory_iterator it(path, error), end; !error && it != end; it.increment(error)) {
    if (it->is_regular_file(error) && is_tensor_file(it->path())) files.push_back(it->path());
    PTHRUN_CHECK_AT(path, files.size() <= kMaxFiles, "more than ", kMaxFiles, " tensor files");
  }
  PTHRUN_CHECK_AT(path, !error, "cannot list the folder: ", error.message());
  PTHRUN_CHECK_AT(path, !files.empty(), "a folder checkpoint needs one .pt or .pth file per tensor; there is none");
  std::sort(files.begin(), files.end());

  Part part;
  std::vector<Value> keys, values;
  for (const std::filesystem::path& file : files) {
    // Errors about one file name that file, not the folder.
    Part one = with_context({file.string()}, [&] { return read_tensor_file(impl, file); });
    PTHRUN_CHECK_AT(file.string(), one.root.kind() == Value::Kind::tensor, "holds a ", kind_name(one.root.kind()),
                    "; each file of a folder checkpoint must hold one tensor (torch.save(tensor, path))");
    keys.push_back(Value::string(file.stem().string()));
    values.push_back(Value::tensor(part.tensors.size()));
    part.tensors.push_back(std::move(one.tensors.at(one.root.tensor_index())));
  }
  part.root = Value::dict(std::move(keys), std::move(values), true);
  impl.zip_root.clear();  // each file has its own; the folder has none
  return part;
}

}  // namespace pthrun
