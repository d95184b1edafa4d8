// The zip format torch.save writes (torch >= 1.6, Hugging Face's pytorch_model.bin):
//
//   <root>/data.pkl                 the pickled object; tensors name storages by key
//   <root>/byteorder                "little" or "big" (absent before 2.1: native, i.e. little)
//   <root>/data/<key>               one record per storage, raw bytes
//   <root>/version, .format_version, .storage_alignment, .data/serialization_id
//
// The root folder is taken from the entries as torch does (the first entry's name up to its
// first '/'), never assumed: it is the saved file's stem, "archive" for buffers, and stays
// the old stem when a file is renamed. TorchScript and torch.package archives are zips too,
// and are refused by their tell-tale entries.
#include "loader/checkpoint_impl.h"
#include "loader/pickle.h"
#include "runtime/checked_math.h"
#include "runtime/error.h"

namespace pthrun {

namespace {

constexpr uint64_t kMaxMetadataBytes = 1 << 20;  // byteorder, version and the like

std::string small_record(const ZipArchive& zip, const ZipEntry& entry) {
  std::string text = zip.read(entry, kMaxMetadataBytes);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

void refuse_other_archives(const ZipArchive& zip, const std::string& root) {
  const std::string& path = zip.file().path();
  auto relative = [&](const ZipEntry& e) { return std::string_view(e.name).substr(root.size() + 1); };
  for (const ZipEntry& e : zip.entries()) {
    const std::string_view name = relative(e);
    if (name == ".data/extern_modules" || (name.size() > 8 && name.substr(name.size() - 8) == ".storage"))
      throw Error(str(path, ": this is a torch.package archive (entry ", e.name,
                      "): it needs Python's importer; save model.state_dict() with torch.save"));
  }
  for (const ZipEntry& e : zip.entries()) {
    const std::string_view name = relative(e);
    if (name == "constants.pkl" || name.substr(0, 5) == "code/")
      throw Error(str(path, ": this is a TorchScript archive (torch.jit.save; entry ", e.name,
                      "): it holds code, not a state dict; save model.state_dict() with torch.save"));
  }
}

}  // namespace

Part read_zip_checkpoint(Checkpoint::Impl& impl, std::shared_ptr<const MappedFile> file,
                         const std::string& key_prefix) {
  impl.archives.push_back(ZipArchive::open(file));
  const ZipArchive& zip = *impl.archives.back();
  const std::string& path = file->path();
  PTHRUN_CHECK(!zip.entries().empty(), path, ": the zip archive is empty");

  const std::string& first = zip.entries().front().name;
  const std::size_t slash = first.find('/');
  PTHRUN_CHECK(slash != std::string::npos && slash > 0, path, ": entry ", first,
               " is not inside a folder, as torch.save's entries are");
  const std::string root = first.substr(0, slash);
  for (const ZipEntry& e : zip.entries())
    PTHRUN_CHECK(e.name.size() > root.size() + 1 && e.name.compare(0, root.size() + 1, root + "/") == 0, path,
                 ": entry ", e.name, " lies outside the archive's folder ", root, "/");
  refuse_other_archives(zip, root);
  if (impl.zip_root.empty()) impl.zip_root = root;

  const ZipEntry* pkl = zip.find(root + "/data.pkl");
  PTHRUN_CHECK(pkl, path, ": no entry ", root, "/data.pkl: this zip is not a checkpoint written by torch.save");
  bool big_endian = false;
  if (const ZipEntry* order = zip.find(root + "/byteorder")) {
    const std::string text = small_record(zip, *order);
    PTHRUN_CHECK(text == "little" || text == "big", zip.where(*order), ": expected 'little' or 'big', found '",
                 text.substr(0, 40), "'");
    big_endian = text == "big";
  }
  if (const ZipEntry* format = zip.find(root + "/.format_version")) {
    const std::string text = small_record(zip, *format);
    PTHRUN_CHECK(text == "1", zip.where(*format), ": format version '", text.substr(0, 40),
                 "' is not supported (1 is)");
  }

  std::string unpacked;  // a compressed data.pkl, inflated; a stored one is read in place
  std::span<const uint8_t> pkl_bytes;
  if (pkl->stored()) {
    pkl_bytes = zip.stored_bytes(*pkl);
  } else {
    unpacked = zip.read(*pkl, PickleLimits{}.max_bytes);
    pkl_bytes = {reinterpret_cast<const uint8_t*>(unpacked.data()), unpacked.size()};
  }
  Unpickled u = unpickle(pkl_bytes, zip.where(*pkl), PersistentIds::zip);

  for (const PickledStorage& s : u.storages) {
    const std::string name = root + "/data/" + s.key;
    const ZipEntry* entry = zip.find(name);
    PTHRUN_CHECK(entry, path, ": the pickle refers to storage '", s.key, "', but there is no entry ", name);
    const std::size_t size = torch_itemsize(s.dtype);
    if (size > 0) {
      const uint64_t expected = checked_mul<uint64_t>(static_cast<uint64_t>(s.numel), size, "storage size");
      PTHRUN_CHECK(entry->size == expected, zip.where(*entry), ": holds ", entry->size, " bytes, but the pickle declares ",
                   s.numel, s.dtype == "bytes" ? " bytes" : str(" ", s.dtype, " elements (", expected, " bytes)"));
    }
    StorageRecord record;
    record.where = zip.where(*entry);
    record.file = file;
    record.nbytes = entry->size;
    record.big_endian = big_endian;
    if (entry->stored()) {
      record.offset = entry->data_offset;
    } else {
      record.archive = &zip;
      record.entry = entry;
    }
    impl.storages[key_prefix + s.key] = std::move(record);
  }

  Part part;
  part.root = std::move(u.root);
  for (PickledTensor& t : u.tensors)
    part.tensors.push_back({std::move(t.dtype), t.shape, t.strides, t.offset_elems, key_prefix + u.storages[t.storage].key});
  return part;
}

}  // namespace pthrun
