// Internal to the loader: what an open Checkpoint holds, and the interface between the format
// readers (zip_format.cpp, legacy_format.cpp, safetensors_format.cpp, folder_format.cpp) and
// the common part (checkpoint.cpp) that names, validates and navigates tensors.
//
// A reader parses its container, registers where each storage's bytes are (StorageRecord)
// and returns a Part: the value tree and the tensors as the file describes them. finish()
// then names every tensor by its key path and checks each view against its record, so the
// checks are written once for all formats.
//
// Memory: the metadata a checkpoint holds (its tree, names, records and tensor descriptions)
// may take at most kMetadataMemoryBase + kMetadataMemoryPerByte x the metadata bytes the
// readers report in Impl::metadata_bytes (pickles, a safetensors header); finish() charges what
// it builds against that, and the unpickler keeps its own budget of the same shape.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "loader/checkpoint.h"
#include "loader/mapped_file.h"
#include "loader/value.h"
#include "loader/zip_archive.h"

namespace pthrun {

// Names are key paths: a tensor's name may hold at most this many bytes and segments.
constexpr std::size_t kMaxNameBytes = 1024;
constexpr std::size_t kMaxNameDepth = 64;
constexpr uint64_t kMetadataMemoryBase = uint64_t(32) << 20;
constexpr uint64_t kMetadataMemoryPerByte = 12;  // torch's state dicts need 4 to 6

// Where a storage's bytes are: a range of a mapped file, or a compressed zip entry.
struct StorageRecord {
  ErrorContext where;           // {"model.pth", "entry archive/data/0"}, for messages
  std::string name;             // the record's name in its file ("archive/data/0"); empty without one
  std::optional<uint32_t> crc;  // the CRC-32 a zip archive records for it
  std::shared_ptr<const MappedFile> file;
  uint64_t offset = 0;  // of the first byte in `file` (uncompressed records)
  uint64_t nbytes = 0;
  const ZipArchive* archive = nullptr;  // set for compressed entries: read through libzip
  const ZipEntry* entry = nullptr;
  bool big_endian = false;
  bool compressed() const { return archive != nullptr; }
};

// A tensor as its file describes it, before validation.
struct RawTensor {
  std::string dtype;  // torch's name: "float32", or one pthrun lacks ("float8_e4m3fn")
  Shape shape;
  Strides strides;
  int64_t storage_offset = 0;
  std::string storage_key;
};

struct Part {
  Value root;  // tensor leaves index `tensors`
  std::vector<RawTensor> tensors;
};

struct Checkpoint::Impl {
  std::string path;
  CheckpointFormat format = CheckpointFormat::zip;
  std::string zip_root;  // the zip's top folder (zip format only)
  Value root;
  std::vector<TensorInfo> by_index;  // per tensor leaf index; names empty
  std::vector<TensorInfo> tensors;   // every tensor leaf, named by its full key path
  std::unordered_map<std::string, StorageRecord> storages;
  std::vector<std::unique_ptr<ZipArchive>> archives;  // keep the records' entries alive
  uint64_t metadata_bytes = 0;                        // pickles and headers read, for the memory budget

  const StorageRecord& record(const std::string& storage_key) const;
};

// pthrun's dtype for a torch dtype name ("float" and "half" included); nullptr when none.
const DType* torch_dtype(std::string_view name);
// Bytes per element of a torch storage dtype ("bytes": 1); 0 when unknown.
std::size_t torch_itemsize(std::string_view name);

// The format readers. `key_prefix` makes storage keys unique when several files make one
// checkpoint (a folder).
Part read_zip_checkpoint(Checkpoint::Impl& impl, std::shared_ptr<const MappedFile> file,
                         const std::string& key_prefix);
Part read_legacy_checkpoint(Checkpoint::Impl& impl, std::shared_ptr<const MappedFile> file,
                            const std::string& key_prefix);
Part read_safetensors(Checkpoint::Impl& impl, std::shared_ptr<const MappedFile> file,
                      const std::string& key_prefix = "");
Part read_folder(Checkpoint::Impl& impl, const std::string& path);
// A Hugging Face sharded checkpoint: the index file (model.safetensors.index.json or
// pytorch_model.bin.index.json) and the shards it names, beside it (sharded_format.cpp).
Part read_sharded(Checkpoint::Impl& impl, const std::string& index_path);
// One single-file checkpoint (zip, legacy or safetensors), its storage keys prefixed; sets
// impl.format when `set_format`.
Part read_single_file(Checkpoint::Impl& impl, const std::string& path, const std::string& key_prefix,
                      bool set_format);

// What a save_pretrained folder holds: its index file or its one weights file; empty when the
// folder holds neither (a folder of per-tensor files).
std::string hf_weights_file(const std::string& folder);
// Refuses one shard of a sharded checkpoint ("model-00001-of-00003.safetensors") given alone.
void check_not_a_shard(const std::string& path);
bool is_shard_index(const std::string& path);  // "*.index.json"

// True when the file starts with the legacy stream's magic number.
bool is_legacy_stream(const MappedFile& file);

// Which single-file format `bytes` start with; throws for known formats pthrun refuses.
CheckpointFormat detect_file_format(const MappedFile& file);

// Checks that the view lies inside its record (overflow-safe) and that the record holds whole
// elements; errors name the tensor (info.name) and the record.
void check_view(const TensorInfo& info, const StorageRecord& record);

// Names every tensor leaf, validates its view against its record, fills impl.root, by_index
// and tensors.
void finish(Checkpoint::Impl& impl, Part part);

}  // namespace pthrun
