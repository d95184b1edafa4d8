// load_tensors into CPU destinations: dtype conversion, strided sources and destinations,
// staging buffers smaller than, equal to and larger than the data, compressed records served
// window by window, tied storages read once, and requests refused before any copy.
#include <zlib.h>

#include <map>
#include <set>

#include "loader/checkpoint.h"
#include "loader/checkpoint_impl.h"
#include "loader/stream_loader.h"
#include "loader/verify.h"
#include "loader/zip_writer.h"
#include "loader_test_util.h"

using namespace pthrun;
using namespace pthrun::test;

namespace {

std::map<std::string, TensorInfo> by_name(const Checkpoint& ckpt) {
  std::map<std::string, TensorInfo> out;
  for (const TensorInfo& t : ckpt.tensors()) out[t.name] = t;
  return out;
}

std::map<std::string, JsonValue> manifest_values(const std::string& path) {
  std::map<std::string, JsonValue> out;
  const JsonValue m = manifest(path + ".json");
  for (const JsonValue& t : m.at("tensors")) out[t.at("name").get<std::string>()] = t.at("values");
  return out;
}

LoadStats load_one(const Checkpoint& ckpt, const TensorInfo& info, const Tensor& dst, std::size_t staging) {
  LoadOptions options;
  options.staging_bytes = staging;
  return load_tensors(ckpt, {{info, dst}}, options);
}

const std::size_t staging_sizes[] = {8, 24, 64, 4096, std::size_t(64) << 20};

}  // namespace

TEST_CASE("strided and tied views load into contiguous destinations, any staging size") {
  for (const char* version : {"torch1.13", "torch2.15"}) {
    const std::string path = fixture(str("loader/", version, "/views.pth"));
    const Checkpoint ckpt = Checkpoint::open(path);
    const auto values = manifest_values(path);
    for (std::size_t staging : staging_sizes) {
      for (const TensorInfo& t : ckpt.tensors()) {
        INFO(path << " " << t.name << " staging " << staging);
        Tensor dst = Tensor::empty(t.shape, t.dtype);
        load_one(ckpt, t, dst, staging);
        check_values(dst, values.at(t.name), t.name);
      }
    }
  }
}

TEST_CASE("float destinations of another dtype are converted on the way") {
  const std::string path = fixture("loader/torch2.15/all_dtypes.pth");
  const Checkpoint ckpt = Checkpoint::open(path);
  const auto values = manifest_values(path);
  for (const TensorInfo& t : ckpt.tensors()) {
    if (!is_floating(t.dtype)) continue;
    const Tensor same = ckpt.read(t);
    for (DType to : {DType::f32, DType::f16, DType::bf16, DType::f64}) {
      for (std::size_t staging : {std::size_t(8), std::size_t(64) << 20}) {
        INFO(t.name << " -> " << dtype_name(to) << " staging " << staging);
        Tensor dst = Tensor::empty(t.shape, to);
        load_one(ckpt, t, dst, staging);
        // Widening is exact: compare with the manifest itself.
        if (itemsize(to) >= itemsize(t.dtype) && (to != DType::f16 || t.dtype == DType::f16) &&
            (to != DType::bf16 || t.dtype == DType::bf16))
          check_values(dst, values.at(t.name), t.name);
        // Any conversion equals the runtime's elementwise conversion of the stored values.
        const Tensor expected = same.to(to);
        for (int64_t i = 0; i < t.numel(); ++i) {
          const double a = element(dst, i), b = element(expected, i);
          CHECK(((a == b && std::signbit(a) == std::signbit(b)) || (std::isnan(a) && std::isnan(b))));
        }
      }
    }
  }
}

TEST_CASE("strided destinations: a slice of a larger buffer is filled, the rest untouched") {
  const std::string path = fixture("loader/torch2.5/views.pth");
  const Checkpoint ckpt = Checkpoint::open(path);
  const auto infos = by_name(ckpt);
  const auto values = manifest_values(path);
  for (std::size_t staging : staging_sizes) {
    // transposed is [4, 3] with stride (1, 4) in the file; the destination is columns 2..5
    // of a [4, 7] buffer, also strided.
    Tensor buffer = Tensor::empty({4, 7}, DType::f32);
    buffer.fill_(-99);
    Tensor dst = buffer.slice(1, 2, 5);
    load_one(ckpt, infos.at("transposed"), dst, staging);
    check_values(dst.contiguous(), values.at("transposed"), "transposed");
    const std::vector<double> all = buffer.to_doubles();
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t c : {0, 1, 5, 6}) CHECK(all[static_cast<std::size_t>(r * 7 + c)] == -99);
    // And a destination whose dims are permuted: the permuted int32 tensor into a transposed view.
    const TensorInfo& p = infos.at("permuted");  // [4, 2, 3]
    Tensor base = Tensor::empty({3, 2, 4}, DType::i32);
    Tensor view = base.transpose(0, 2);  // [4, 2, 3], strides (1, 4, 8)
    load_one(ckpt, p, view, staging);
    check_values(view.contiguous(), values.at("permuted"), "permuted");
  }
}

TEST_CASE("compressed records are served window by window") {
  TempDir dir;
  const std::string deflated = path_in(dir, "views_deflated.pth");
  write_deflated_copy(fixture("loader/torch2.15/views.pth"), deflated);
  const Checkpoint ckpt = Checkpoint::open(deflated);
  const auto values = manifest_values(fixture("loader/torch2.15/views.pth"));
  REQUIRE(ckpt.impl().record(ckpt.tensors()[0].storage_key).compressed());
  for (std::size_t staging : staging_sizes) {
    for (const TensorInfo& t : ckpt.tensors()) {
      const bool strided = t.name == "transposed" || t.name == "column" || t.name == "permuted" || t.name == "slice_only";
      Tensor dst = Tensor::empty(t.shape, t.dtype);
      INFO(t.name << " staging " << staging);
      if (strided && ckpt.impl().record(t.storage_key).nbytes > staging / 8 * 8) {
        // A strided view of a compressed record needs the whole record in one window.
        const std::string message = error_of([&] { load_one(ckpt, t, dst, staging); });
        CHECK(message.find("strided view of a compressed record") != std::string::npos);
        continue;
      }
      load_one(ckpt, t, dst, staging);
      check_values(dst, values.at(t.name), t.name);
    }
  }
  // The deflated fixture made by Python's zipfile, with a tiny window.
  for (const char* version : {"torch1.13", "torch2.5", "torch2.15"}) {
    const std::string path = fixture(str("loader/", version, "/deflated.pth"));
    const Checkpoint zipped = Checkpoint::open(path);
    const auto expected = manifest_values(path);
    for (const TensorInfo& t : zipped.tensors()) {
      Tensor dst = Tensor::empty(t.shape, t.dtype);
      load_one(zipped, t, dst, 8);
      check_values(dst, expected.at(t.name), t.name);
    }
  }
}

TEST_CASE("a storage shared by several requests is read once") {
  const Checkpoint ckpt = Checkpoint::open(fixture("loader/torch2.15/views.pth"));
  const auto infos = by_name(ckpt);
  const TensorInfo& a = infos.at("tied_a");
  Tensor da = Tensor::empty(a.shape, DType::f32), db = Tensor::empty(a.shape, DType::f32);
  Tensor dalias = Tensor::empty({3, 2}, DType::f32), dhalf = Tensor::empty(a.shape, DType::f16);
  LoadOptions options;
  const LoadStats stats = load_tensors(
      ckpt, {{a, da}, {infos.at("tied_b"), db}, {infos.at("alias"), dalias}, {a, dhalf}}, options);
  CHECK(stats.tensors == 4);
  CHECK(stats.bytes_read == 6 * 4);  // the storage, once
  CHECK(stats.bytes_written == 3 * 24 + 12);
  CHECK(da.to_doubles() == db.to_doubles());
  CHECK(da.to_doubles() == dalias.to_doubles());
  CHECK(da.to(DType::f16).to_doubles() == dhalf.to_doubles());
}

TEST_CASE("bad requests are refused before anything is copied") {
  const Checkpoint ckpt = Checkpoint::open(fixture("loader/torch2.15/all_dtypes.pth"));
  const auto infos = by_name(ckpt);
  LoadOptions options;
  Tensor good = Tensor::zeros({2, 4}, DType::f32);
  Tensor wrong_shape = Tensor::zeros({4, 2}, DType::f32);
  std::string message = error_of([&] {
    load_tensors(ckpt, {{infos.at("float32"), good}, {infos.at("float16"), wrong_shape}}, options);
  });
  CHECK(message.find("tensor 'float16': the checkpoint has shape [2, 4], the destination [4, 2]") != std::string::npos);
  CHECK(good.to_doubles() == std::vector<double>(8, 0.0));  // nothing was copied before the check failed
  message = error_of([&] { load_tensors(ckpt, {{infos.at("int64"), Tensor::zeros({2, 3}, DType::f32)}}, options); });
  CHECK(message.find("tensor 'int64': cannot load int64 into a float32 destination") != std::string::npos);
  message = error_of([&] { load_tensors(ckpt, {{infos.at("int64"), Tensor()}}, options); });
  CHECK(message.find("the destination is undefined") != std::string::npos);
  // A doctored description cannot make the loader read outside the record.
  TensorInfo forged = infos.at("float32");
  forged.storage_offset = 1000;
  message = error_of([&] { load_tensors(ckpt, {{forged, Tensor::zeros({2, 4}, DType::f32)}}, options); });
  CHECK(message.find("reaches element 1007 of a storage of 8 elements") != std::string::npos);
  forged = infos.at("float32");
  forged.storage_key = "nope";
  message = error_of([&] { load_tensors(ckpt, {{forged, Tensor::zeros({2, 4}, DType::f32)}}, options); });
  CHECK(message.find("names storage 'nope'") != std::string::npos);
}

TEST_CASE("empty and 0-d tensors, and checkpoints of every format, load through load_tensors") {
  for (const std::string file : {"loader/torch2.15/tensors.safetensors", "loader/torch1.13/legacy.pth",
                           "loader/torch2.5/per_tensor", "loader/torch2.15/crc_zero.pth"}) {
    const std::string path = fixture(file);
    const Checkpoint ckpt = Checkpoint::open(path);
    std::vector<LoadRequest> requests;
    for (const TensorInfo& t : ckpt.tensors()) requests.push_back({t, Tensor::empty(t.shape, t.dtype)});
    LoadOptions options;
    options.staging_bytes = 16;
    const LoadStats stats = load_tensors(ckpt, requests, options);
    CHECK(stats.tensors == requests.size());
    const auto values = manifest_values(path);
    for (const LoadRequest& r : requests) check_values(r.destination, values.at(r.source.name), path + " " + r.source.name);
  }
}

namespace {

// A copy of `from` with byte `offset` of entry `entry` changed.
std::string corrupt_copy(const std::string& from, const std::string& to, const std::string& entry, uint64_t offset) {
  const auto zip = ZipArchive::open(MappedFile::open(from));
  const ZipEntry* e = zip->find(entry);
  REQUIRE(e);
  REQUIRE(e->stored());
  std::string bytes = read_file(from);
  bytes[static_cast<std::size_t>(e->data_offset + offset)] ^= 0x01;
  write_bytes(to, bytes);
  return to;
}

LoadStats load_all(const Checkpoint& ckpt, std::size_t staging, bool verify) {
  std::vector<LoadRequest> requests;
  for (const TensorInfo& t : ckpt.tensors()) requests.push_back({t, Tensor::empty(t.shape, t.dtype)});
  LoadOptions options;
  options.staging_bytes = staging;
  options.verify = verify;
  return load_tensors(ckpt, requests, options);
}

}  // namespace

TEST_CASE("verify: each record a load reads is checked whole against its zip CRC-32") {
  // torch wrote the CRCs; ours (libdeflate, in pieces on worker threads) must agree with them,
  // for stored records read chunk by chunk and deflated ones window by window.
  for (const std::string file : {"loader/torch2.15/views.pth", "loader/torch1.13/views.pth", "loader/torch2.15/deflated.pth",
                           "loader/torch2.5/per_tensor"}) {
    const std::string path = fixture(file);
    const Checkpoint ckpt = Checkpoint::open(path);
    for (std::size_t staging : {std::size_t(24), std::size_t(64) << 20}) {
      INFO(path << " staging " << staging);
      const LoadStats stats = load_all(ckpt, staging, true);
      std::set<std::string> storages;
      for (const TensorInfo& t : ckpt.tensors()) storages.insert(t.storage_key);
      CHECK(stats.records.size() == storages.size());  // each record once, however many views
      for (const RecordCheck& r : stats.records) {
        CHECK(r.result == Checksum::verified);
        CHECK(r.record.find("/data/") != std::string::npos);
      }
      CHECK(load_all(ckpt, staging, false).records.empty());
    }
  }
  // A view of part of a record: the whole record is still checked.
  const Checkpoint views = Checkpoint::open(fixture("loader/torch2.15/views.pth"));
  const TensorInfo column = by_name(views).at("column");
  LoadOptions options;
  options.verify = true;
  const LoadStats one = load_tensors(views, {{column, Tensor::empty(column.shape, column.dtype)}}, options);
  REQUIRE(one.records.size() == 1);
  CHECK(one.records[0].bytes == views.impl().record(column.storage_key).nbytes);
  CHECK(one.records[0].bytes > column.nbytes());
  // CRC 0 (torch >= 2.6 with CRCs off): not checksummed. Legacy and safetensors have none.
  for (const RecordCheck& r : load_all(Checkpoint::open(fixture("loader/torch2.15/crc_zero.pth")), 64, true).records)
    CHECK(r.result == Checksum::not_checksummed);
  for (const std::string file : {"loader/torch1.13/legacy.pth", "loader/torch2.15/tensors.safetensors"})
    for (const RecordCheck& r : load_all(Checkpoint::open(fixture(file)), 64, true).records)
      CHECK(r.result == Checksum::none_in_format);
}

TEST_CASE("verify: a corrupt record is an error naming it, stored or deflated") {
  TempDir dir;
  const std::string path = corrupt_copy(fixture("loader/torch2.15/views.pth"), path_in(dir, "views.pth"), "views/data/0", 5);
  const Checkpoint ckpt = Checkpoint::open(path);  // metadata intact: opens
  for (std::size_t staging : {std::size_t(24), std::size_t(64) << 20}) {
    const std::string message = error_of([&] { load_all(ckpt, staging, true); });
    CHECK(message.find(path + ": entry views/data/0: corrupt: its bytes have CRC-32 0x") != std::string::npos);
    CHECK(message.find(", the archive records 0x") != std::string::npos);
  }
  CHECK_NOTHROW(load_all(ckpt, 64, false));  // without verify the changed byte is just data
  CHECK(error_of([&] { verify_checkpoint(ckpt); }).find("entry views/data/0: corrupt") != std::string::npos);

  // Deflated: the archive's CRC of data/1 is off by one.
  const auto zip = ZipArchive::open(MappedFile::open(fixture("loader/torch2.15/views.pth")));
  std::vector<std::pair<std::string, std::string>> records;
  for (const ZipEntry& e : zip->entries()) records.emplace_back(e.name, zip->read(e, 1 << 20));
  write_deflated_zip(path_in(dir, "deflated.pth"), records);
  std::string bytes = read_file(path_in(dir, "deflated.pth"));
  const auto deflated = ZipArchive::open(MappedFile::open(path_in(dir, "deflated.pth")));
  const ZipEntry* target = deflated->find("views/data/1");
  uint64_t central = deflated->central_directory_offset();
  for (const ZipEntry& e : deflated->entries()) {
    if (&e == target) break;
    central += 46 + e.name.size();  // write_deflated_zip writes no extra fields or comments
  }
  for (const uint64_t at : {target->header_offset + 14, central + 16}) bytes[static_cast<std::size_t>(at)] ^= 0x01;
  write_bytes(path_in(dir, "deflated_bad.pth"), bytes);
  const Checkpoint bad = Checkpoint::open(path_in(dir, "deflated_bad.pth"));
  CHECK(error_of([&] { load_all(bad, std::size_t(64) << 20, true); }).find("entry views/data/1: corrupt") != std::string::npos);
  CHECK(error_of([&] { verify_checkpoint(bad); }).find("entry views/data/1: corrupt") != std::string::npos);
}

TEST_CASE("verify_checkpoint: every record of every file, metadata included") {
  const std::string path = fixture("loader/torch2.15/views.pth");
  const std::vector<RecordCheck> checks = verify_checkpoint(Checkpoint::open(path));
  const auto zip = ZipArchive::open(MappedFile::open(path));
  REQUIRE(checks.size() == zip->entries().size());
  for (std::size_t i = 0; i < checks.size(); ++i) {
    CHECK(checks[i].record == zip->entries()[i].name);
    CHECK(checks[i].bytes == zip->entries()[i].size);
    CHECK(checks[i].result == Checksum::verified);
  }
  int data_unchecked = 0;
  for (const RecordCheck& r : verify_checkpoint(Checkpoint::open(fixture("loader/torch2.15/crc_zero.pth"))))
    data_unchecked += r.result == Checksum::not_checksummed;
  CHECK(data_unchecked > 0);
  const std::vector<RecordCheck> folder = verify_checkpoint(Checkpoint::open(fixture("loader/torch2.5/per_tensor")));
  std::set<std::string> files;
  for (const RecordCheck& r : folder) files.insert(r.file);
  CHECK(files.size() > 1);
  const std::vector<RecordCheck> legacy = verify_checkpoint(Checkpoint::open(fixture("loader/torch1.13/legacy.pth")));
  REQUIRE(legacy.size() == 1);
  CHECK(legacy[0].result == Checksum::none_in_format);
}
