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
//
// Every record but the storages (data.pkl, byteorder, version, .data/serialization_id ...) is
// checked against its CRC-32 on opening; storages are checked by `pthrun verify` and by loads
// with LoadOptions::verify. A deflated data.pkl may inflate to at most kMaxInflation times its
// compressed size (plus a little): the memory a pickle may take grows with its size, so this
// keeps a few kilobytes in the file from claiming hundreds of megabytes.
#include "loader/checkpoint_impl.h"
#include "loader/pickle.h"
#include "runtime/checked_math.h"
#include "runtime/error.h"
#include "runtime/quote.h"

namespace pthrun {

namespace {

constexpr uint64_t kMaxMetadataBytes = 1 << 20;  // byteorder, version and the like
constexpr uint64_t kMaxInflation = 32;
constexpr uint64_t kInflationAllowance = uint64_t(4) << 20;

std::string small_record(const ZipArchive& zip, const ZipEntry& entry) {
  std::string text = zip.read(entry, kMaxMetadataBytes);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

// Every record outside <root>/data/, the storages' folder.
void verify_metadata(const ZipArchive& zip, const std::string& root) {
  const std::string data = root + "/data/";
  for (const ZipEntry& e : zip.entries())
    if (e.name.compare(0, data.size(), data) != 0) zip.verify(e);
}

// data.pkl's bytes: a stored one in place, a deflated one inflated into `unpacked`.
std::span<const uint8_t> pickle_bytes(const ZipArchive& zip, const ZipEntry& pkl, std::string& unpacked) {
  if (pkl.stored()) return zip.stored_bytes(pkl);
  const uint64_t limit =
      std::min<uint64_t>(PickleLimits{}.max_bytes, kInflationAllowance + kMaxInflation * pkl.compressed_size);
  PTHRUN_CHECK_AT(zip.where(pkl), pkl.size <= limit, "inflates to ", pkl.size, " bytes, more than the ", limit,
                  " allowed for ", pkl.compressed_size, " compressed bytes");
  unpacked = zip.read(pkl, limit);
  return {reinterpret_cast<const uint8_t*>(unpacked.data()), unpacked.size()};
}

void refuse_other_archives(const ZipArchive& zip, const std::string& root) {
  const std::string& path = zip.file().path();
  auto relative = [&](const ZipEntry& e) { return std::string_view(e.name).substr(root.size() + 1); };
  for (const ZipEntry& e : zip.entries()) {
    const std::string_view name = relative(e);
    if (name == ".data/extern_modules" || (name.size() > 8 && name.substr(name.size() - 8) == ".storage"))
      throw Error(path, str("this is a torch.package archive (entry ", printable(e.name),
                            "): it needs Python's importer; save model.state_dict() with torch.save"));
  }
  for (const ZipEntry& e : zip.entries()) {
    const std::string_view name = relative(e);
    if (name == "constants.pkl" || name.substr(0, 5) == "code/")
      throw Error(path, str("this is a TorchScript archive (torch.jit.save; entry ", printable(e.name),
                            "): it holds code, not a state dict; save model.state_dict() with torch.save"));
  }
}

}  // namespace

Part read_zip_checkpoint(Checkpoint::Impl& impl, std::shared_ptr<const MappedFile> file,
                         const std::string& key_prefix) {
  impl.archives.push_back(ZipArchive::open(file));
  const ZipArchive& zip = *impl.archives.back();
  const std::string& path = file->path();
  PTHRUN_CHECK_AT(path, !zip.entries().empty(), "the zip archive is empty");

  const std::string& first = zip.entries().front().name;
  const std::size_t slash = first.find('/');
  PTHRUN_CHECK_AT(path, slash != std::string::npos && slash > 0, "entry ", printable(first),
                  " is not inside a folder, as torch.save's entries are");
  const std::string root = first.substr(0, slash);
  for (const ZipEntry& e : zip.entries())
    PTHRUN_CHECK_AT(path, e.name.size() > root.size() + 1 && e.name.compare(0, root.size() + 1, root + "/") == 0,
                    "entry ", printable(e.name), " lies outside the archive's folder ", printable(root), "/");
  refuse_other_archives(zip, root);
  if (impl.zip_root.empty()) impl.zip_root = root;

  const ZipEntry* pkl = zip.find(root + "/data.pkl");
  PTHRUN_CHECK_AT(path, pkl, "no entry ", printable(root),
                  "/data.pkl: this zip is not a checkpoint written by torch.save");
  verify_metadata(zip, root);
  bool big_endian = false;
  if (const ZipEntry* order = zip.find(root + "/byteorder")) {
    const std::string text = small_record(zip, *order);
    PTHRUN_CHECK_AT(zip.where(*order), text == "little" || text == "big", "expected 'little' or 'big', found ",
                    in_quotes(text, 40));
    big_endian = text == "big";
  }
  if (const ZipEntry* format = zip.find(root + "/.format_version")) {
    const std::string text = small_record(zip, *format);
    PTHRUN_CHECK_AT(zip.where(*format), text == "1", "format version ", in_quotes(text, 40),
                    " is not supported (1 is)");
  }

  std::string unpacked;
  const std::span<const uint8_t> pkl_bytes = pickle_bytes(zip, *pkl, unpacked);
  impl.metadata_bytes += pkl_bytes.size();
  Unpickled u = unpickle(pkl_bytes, zip.where(*pkl), PersistentIds::zip);

  for (const PickledStorage& s : u.storages) {
    const std::string name = root + "/data/" + s.key;
    const ZipEntry* entry = zip.find(name);
    PTHRUN_CHECK_AT(path, entry, "the pickle refers to storage ", in_quotes(s.key), ", but there is no entry ",
                    printable(name));
    const std::size_t size = torch_itemsize(s.dtype);
    if (size > 0) {
      const uint64_t expected = with_context(zip.where(*entry), [&] {
        return checked_mul<uint64_t>(static_cast<uint64_t>(s.numel), size, "storage size");
      });
      PTHRUN_CHECK_AT(zip.where(*entry), entry->size == expected, "holds ", entry->size,
                      " bytes, but the pickle declares ", s.numel,
                      s.dtype == "bytes" ? " bytes" : str(" ", s.dtype, " elements (", expected, " bytes)"));
    }
    StorageRecord record;
    record.where = zip.where(*entry);
    record.name = entry->name;
    record.crc = entry->crc;
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
    part.tensors.push_back({std::move(t.dtype), t.shape, t.strides, t.storage_offset, key_prefix + u.storages[t.storage].key});
  return part;
}

}  // namespace pthrun
