// Bad inputs: every file of tests/fixtures/reject, hand-built hostile pickles and archives,
// absurd sizes, deep nesting, truncation at every offset and flipped bytes. Each must end in
// one pthrun::Error that names the file (and the entry) and the reason; nothing may crash,
// hang, allocate from an unchecked length, or execute anything.
#include <malloc.h>

#include <chrono>
#include <filesystem>

#include "loader/checkpoint.h"
#include "loader/pickle.h"
#include "loader/stream_loader.h"
#include "loader/zip_writer.h"
#include "loader_test_util.h"
#include "runtime/host_memory.h"

using namespace pthrun;
using namespace pthrun::test;

namespace {

// Opening and reading every tensor: the whole path a load takes.
void open_and_read_all(const std::string& path) {
  const Checkpoint ckpt = Checkpoint::open(path);
  for (const TensorInfo& t : ckpt.tensors()) (void)ckpt.read(t);
}

// A torch-style zip: <root>/data.pkl, byteorder, data/<key> records, version.
void write_zip(const std::string& path, const std::string& pickle,
               const std::vector<std::pair<std::string, std::string>>& storages = {},
               const std::string& byteorder = "little") {
  ZipWriter zip(path);
  const std::string root = std::filesystem::path(path).stem().string() + "/";
  zip.add(root + "data.pkl", pickle);
  zip.add(root + "byteorder", byteorder);
  for (const auto& [key, bytes] : storages) zip.add(root + "data/" + key, bytes);
  zip.add(root + "version", "3\n");
  zip.finish();
}

const std::string six_floats(24, '\0');

// The message when opening (and reading) `path` fails; checks that it names the file.
std::string refusal(const std::string& path) {
  const std::string message = error_of([&] { open_and_read_all(path); });
  CHECK_MESSAGE(message.find(path) != std::string::npos, message);
  return message;
}

void check_refusal(const std::string& path, std::initializer_list<const char*> parts) {
  const std::string message = refusal(path);
  for (const char* part : parts) CHECK_MESSAGE(message.find(part) != std::string::npos, message, " lacks: ", part);
}

std::string unpickle_error(const std::string& bytes, PickleLimits limits = {}) {
  return error_of([&] {
    unpickle({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, {"test.pkl"}, PersistentIds::zip, limits);
  });
}

}  // namespace

TEST_CASE("every reject fixture is refused for its stated reason") {
  struct Case {
    const char* file;
    std::vector<const char*> reason;
  };
  const Case cases[] = {
      {"torchscript.pt", {"TorchScript", "state_dict"}},
      {"torch_package.pt", {"torch.package"}},
      {"tar_legacy.pth", {"tar archive", "0.1.10"}},
      {"quantized.pth", {"quantized tensors are not supported", "torch._utils._rebuild_qtensor", "nothing was executed"}},
      {"sparse.pth", {"sparse tensors are not supported", "entry sparse/data.pkl"}},
      {"meta.pth", {"meta tensors have no data", "_rebuild_meta_tensor_no_storage"}},
      {"module_pickle.pth", {"pickles a Python object of class __main__.Tiny", "save model.state_dict() instead",
                             "nothing was executed"}},
      {"os_system.pth", {"global os.system is not allowed", "nothing was executed", "entry os_system/data.pkl"}},
      {"builtins_eval.pth", {"global builtins.eval is not allowed", "nothing was executed"}},
      {"numpy_global.pth", {"numpy arrays are not supported", "numpy.core.multiarray._reconstruct"}},
      {"unknown_opcode.pth", {"byte 0xff is not a pickle opcode", "entry unknown_opcode/data.pkl", "at byte 3"}},
      {"view_out_of_range.pth", {"entry view_out_of_range/data/0", "tensor 'weight'", "reaches element 8",
                                 "storage of 6 elements"}},
      {"storage_size_mismatch.pth", {"entry storage_size_mismatch/data/0", "holds 16 bytes",
                                     "6 float32 elements (24 bytes)"}},
      {"deep_nesting.pth", {"entry deep_nesting/data.pkl", "nested deeper than 256 levels"}},
      {"truncated.pth", {"no end of central directory"}},
      {"cd_local_mismatch.pth", {"entry cd_local_mismatch/data/0", "disagree on the name", "cd_local_mismatch/data/9"}},
      {"overlap.pth", {"overlap/data/0", "overlap/data/1", "overlap"}},
  };
  for (const Case& c : cases) {
    const std::string path = fixture(str("reject/", c.file));
    INFO(path);
    const std::string message = refusal(path);
    for (const char* part : c.reason) CHECK_MESSAGE(message.find(part) != std::string::npos, message, " lacks: ", part);
    CHECK(message.find('\n') == std::string::npos);  // one line
  }
}

TEST_CASE("a pickle calling os.system is refused and runs nothing") {
  TempDir dir;
  const std::string marker = path_in(dir, "pwned");
  PickleBuilder p;
  p.begin_state_dict().str("weight").tensor("FloatStorage", "0", 6, 0, {2, 3}, {3, 1});
  p.str("payload").global("os", "system").op('(').str("touch " + marker).op('t').op('R');
  write_zip(path_in(dir, "hostile.pth"), p.end_state_dict(), {{"0", six_floats}});
  check_refusal(path_in(dir, "hostile.pth"), {"global os.system is not allowed", "nothing was executed"});
  CHECK_FALSE(std::filesystem::exists(marker));

  // The same through STACK_GLOBAL (protocol 4), and posix.system, and __reduce__-style calls
  // of allowed globals with arguments they do not take.
  std::string stack_global = PickleBuilder().proto(4).op('\x8c').raw("\x02os").op('\x8c').raw("\x06system").op('\x93')
                                 .op('(').str("touch " + marker).op('t').op('R').op('.').bytes();
  CHECK(unpickle_error(stack_global).find("global os.system is not allowed") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto().global("posix", "system").op('.').bytes()).find("posix.system") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto().global("torch", "Tensor").op(')').op('R').op('.').bytes())
            .find("calling torch.Tensor is not supported") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto().global("collections", "OrderedDict").op('(').str("x").op('t').op('R').op('.').bytes())
            .find("OrderedDict with arguments") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto().global("torch._utils", "_rebuild_tensor_v2").op('(').str("not a storage")
                           .op('t').op('R').op('.').bytes())
            .find("tensor rebuild with 1 arguments") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto().global("__builtin__", "getattr").op('.').bytes())
            .find("__builtin__.getattr is not allowed") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto().op('(').str("module").str("x").op('t').op('Q').op('.').bytes())
            .find("persistent id other than ('storage', ...): 'module'") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(marker));
}

TEST_CASE("hostile sizes are refused before anything is allocated from them") {
  // Lengths beyond the input: a 4 GiB string in a 10-byte pickle, a 2^63 BINUNICODE8.
  CHECK(unpickle_error(PickleBuilder().proto().op('X').u32(1000).raw("ab").bytes()).find("truncated: the string needs 1000 bytes, 2 remain") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto().op('X').u32(0xffffffff).raw("ab").bytes()).find("exceeds the limit") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto(4).op('\x8d').raw(std::string("\0\0\0\0\0\0\0\x80", 8)).bytes())
            .find("exceeds the limit") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto().op('\x8a').raw(std::string(1, char(200))).raw(std::string(200, 'x')).op('.').bytes())
            .find("does not fit in 64 bits") != std::string::npos);
  // A memo index of 4 billion costs nothing; a memo read before it is written is an error.
  CHECK(unpickle_error(PickleBuilder().proto().op('N').op('r').u32(0xfffffff0).op('j').u32(7).op('.').bytes())
            .find("memo entry 7 is read before it is written") != std::string::npos);
  PickleLimits small;
  small.max_memo = 100;
  PickleBuilder memo;
  memo.proto().op('N');
  for (uint32_t i = 0; i < 200; ++i) memo.op('r').u32(i);
  CHECK(unpickle_error(memo.op('.').bytes(), small).find("more than 100 memo entries") != std::string::npos);

  TempDir dir;
  struct Case {
    const char* name;
    std::string pickle;
    std::string storage;
    const char* reason;
  };
  auto sd = [](auto&& emit) {
    PickleBuilder p;
    p.begin_state_dict().str("w");
    emit(p);
    return p.end_state_dict();
  };
  const Case cases[] = {
      {"declared_1e12.pth", sd([](PickleBuilder& p) { p.tensor("FloatStorage", "0", 1000000000000, 0, {1000000000000}, {1}); }),
       six_floats, "1000000000000 float32 elements"},
      {"repeat_1e15.pth", sd([](PickleBuilder& p) { p.tensor("FloatStorage", "0", 6, 0, {1000000000000000}, {0}); }),
       six_floats, "is larger than"},
      {"numel_overflow.pth", sd([](PickleBuilder& p) { p.tensor("FloatStorage", "0", 6, 0, {int64_t(1) << 62, 8}, {0, 0}); }),
       six_floats, "overflows 64 bits"},
      {"offset_overflow.pth", sd([](PickleBuilder& p) { p.tensor("FloatStorage", "0", 6, INT64_MAX - 1, {4}, {1}); }),
       six_floats, "overflows"},
      {"rank9.pth", sd([](PickleBuilder& p) { p.tensor("FloatStorage", "0", 6, 0, {1, 1, 1, 1, 1, 1, 1, 1, 6}, {6, 6, 6, 6, 6, 6, 6, 6, 1}); }),
       six_floats, "at most 8"},
      {"negative_stride.pth", sd([](PickleBuilder& p) { p.tensor("FloatStorage", "0", 6, 5, {6}, {-1}); }),
       six_floats, "negative entry -1"},
      {"beyond.pth", sd([](PickleBuilder& p) { p.tensor("FloatStorage", "0", 6, 4, {3}, {1}); }),
       six_floats, "reaches element 6 of a storage of 6 elements"},
      {"empty_beyond.pth", sd([](PickleBuilder& p) { p.tensor("FloatStorage", "0", 6, 7, {0}, {1}); }),
       six_floats, "lies beyond its storage"},
      {"missing_record.pth", sd([](PickleBuilder& p) { p.tensor("FloatStorage", "7", 6, 0, {6}, {1}); }),
       six_floats, "there is no entry missing_record/data/7"},
      {"two_dtypes.pth", sd([](PickleBuilder& p) {
         p.tensor("FloatStorage", "0", 6, 0, {6}, {1}).str("w2").tensor("IntStorage", "0", 6, 0, {6}, {1});
       }), six_floats, "declared twice"},
  };
  for (const Case& c : cases) {
    const std::string path = path_in(dir, c.name);
    write_zip(path, c.pickle, {{"0", c.storage}});
    INFO(c.name);
    const auto start = std::chrono::steady_clock::now();
    check_refusal(path, {c.reason});
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  }
}

TEST_CASE("nesting a million deep, cycles and exponential sharing are refused quickly") {
  const auto start = std::chrono::steady_clock::now();
  std::string marks = PickleBuilder().proto().bytes();
  for (int i = 0; i < 1000000; ++i) marks += "](";
  CHECK(unpickle_error(marks).find("MARKs nested deeper than 256") != std::string::npos);
  std::string tuples = PickleBuilder().proto().op(')').bytes() + std::string(1000000, '\x85') + ".";
  CHECK(unpickle_error(tuples).find("nested deeper than 256") != std::string::npos);
  std::string lists = PickleBuilder().proto().bytes();
  for (int i = 0; i < 1000000; ++i) lists += "]";
  lists += std::string(1000000, 'a') + ".";
  CHECK(unpickle_error(lists).find("nested deeper than 256") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));

  // A list that contains itself: a valid pickle, but not a tree.
  CHECK(unpickle_error(PickleBuilder().proto().op(']').op('2').op('a').op('.').bytes()).find("contains itself") != std::string::npos);
  // l0 = []; l(k+1) = [lk, lk]: 60 levels expand to 2^60 values.
  PickleBuilder shared;
  shared.proto().op(']').op('q').raw(std::string(1, '\0')).op('0');
  for (int k = 0; k < 60; ++k) {
    shared.op(']').op('(').op('h').raw(std::string(1, char(k))).op('h').raw(std::string(1, char(k))).op('e');
    shared.op('q').raw(std::string(1, char(k + 1))).op('0');
  }
  shared.op('h').raw(std::string(1, char(60)));
  CHECK(unpickle_error(shared.op('.').bytes()).find("expands to more than") != std::string::npos);
}

TEST_CASE("malformed pickles: stack, marks, STOP, protocols and opcodes") {
  CHECK(unpickle_error(PickleBuilder().proto().op('a').op('.').bytes()).find("stack is empty") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto().op('t').bytes()).find("no MARK") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto().op('N').op('N').op('.').bytes()).find("STOP with 2 values") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto().op('N').bytes()).find("ends without STOP") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto(6).op('N').op('.').bytes()).find("protocol 6") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto().op('i').bytes()).find("opcode INST is not supported") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto().op('N').op(']').op('N').op('s').op('.').bytes())
            .find("SETITEM on something that is not a dict") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto().op('}').op(']').op('N').op('s').op('.').bytes())
            .find("dict key must be") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto().op(']').op('}').op('b').op('.').bytes())
            .find("BUILD on something that is not a dict") != std::string::npos);
  CHECK(unpickle_error(PickleBuilder().proto().global("a", "b\x01").bytes()).find("global a.b") != std::string::npos);
}

TEST_CASE("malformed archives and containers are refused, naming file and entry") {
  TempDir dir;
  const std::string pickle = PickleBuilder().begin_state_dict().str("w").tensor("FloatStorage", "0", 6, 0, {6}, {1}).end_state_dict();

  write_bytes(path_in(dir, "empty.pth"), "");
  check_refusal(path_in(dir, "empty.pth"), {"the file is empty"});
  write_bytes(path_in(dir, "junk.pth"), "\x7f" "ELF and more bytes");
  check_refusal(path_in(dir, "junk.pth"), {"not a checkpoint pthrun can read", "7f 45 4c 46"});
  write_bytes(path_in(dir, "preview.pth"), "PYTORCH1 and so on");
  check_refusal(path_in(dir, "preview.pth"), {"PYTORCH1"});

  write_zip(path_in(dir, "big_endian.pth"), pickle, {{"0", six_floats}}, "big");
  check_refusal(path_in(dir, "big_endian.pth"), {"big-endian", "entry big_endian/data/0"});
  const std::string bytes_pickle = PickleBuilder().begin_state_dict().str("b").tensor("ByteStorage", "0", 6, 0, {6}, {1}).end_state_dict();
  write_zip(path_in(dir, "big_endian_bytes.pth"), bytes_pickle, {{"0", "abcdef"}}, "big");
  CHECK(Checkpoint::open(path_in(dir, "big_endian_bytes.pth")).read(Checkpoint::open(path_in(dir, "big_endian_bytes.pth")).tensors()[0]).numel() == 6);
  write_zip(path_in(dir, "odd_order.pth"), pickle, {{"0", six_floats}}, "middle");
  check_refusal(path_in(dir, "odd_order.pth"), {"entry odd_order/byteorder", "expected 'little' or 'big'"});

  {
    ZipWriter zip(path_in(dir, "no_pickle.pth"));
    zip.add("no_pickle/version", "3\n");
    zip.finish();
  }
  check_refusal(path_in(dir, "no_pickle.pth"), {"no entry no_pickle/data.pkl"});
  {
    ZipWriter zip(path_in(dir, "outside.pth"));
    zip.add("outside/data.pkl", pickle);
    zip.add("elsewhere/data/0", six_floats);
    zip.finish();
  }
  check_refusal(path_in(dir, "outside.pth"), {"entry elsewhere/data/0 lies outside the archive's folder outside/"});
  {
    ZipWriter zip(path_in(dir, "flat.pth"));
    zip.add("data.pkl", pickle);
    zip.finish();
  }
  check_refusal(path_in(dir, "flat.pth"), {"entry data.pkl is not inside a folder"});

  // safetensors: each kind of lie in the header.
  auto safetensors = [&](const std::string& name, const std::string& header, const std::string& data) {
    std::string bytes(8, '\0');
    for (int k = 0; k < 8; ++k) bytes[static_cast<std::size_t>(k)] = static_cast<char>((header.size() >> (8 * k)) & 0xff);
    write_bytes(path_in(dir, name), bytes + header + data);
    return path_in(dir, name);
  };
  check_refusal(safetensors("gap.safetensors", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, '\0')),
                {"tensor 'a' starts at buffer byte 4, expected 0"});
  check_refusal(safetensors("size.safetensors", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0')),
                {"tensor 'a'", "span 8 bytes", "needs 12"});
  check_refusal(safetensors("f8.safetensors", R"({"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", std::string(1, '\0')),
                {"tensor 'a'", "unsupported dtype F8_E4M3"});
  check_refusal(safetensors("dup.safetensors", R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", std::string(2, '\0')),
                {"'a' appears twice"});
  check_refusal(safetensors("beyond.safetensors", R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,9]}})", std::string(2, '\0')),
                {"lie outside the buffer"});
  check_refusal(safetensors("tail.safetensors", R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", std::string(3, '\0')),
                {"cover 1 bytes of a buffer of 3"});
  std::string huge(8, '\xff');
  write_bytes(path_in(dir, "huge.safetensors"), huge + "{}");
  check_refusal(path_in(dir, "huge.safetensors"), {"safetensors header of 18446744073709551615 bytes"});
  std::string long_header(8, '\0');
  long_header[4] = 1;  // 2^32 bytes of header in a tiny file
  write_bytes(path_in(dir, "long.safetensors"), long_header + "{}");
  check_refusal(path_in(dir, "long.safetensors"), {"safetensors header of 4294967296 bytes"});

  // A folder whose file holds a dict instead of one tensor.
  std::filesystem::create_directories(dir.path / "folder");
  write_zip(path_in(dir, "folder/w.pth"), pickle, {{"0", six_floats}});
  check_refusal(path_in(dir, "folder"), {"folder/w.pth", "holds a dict", "must hold one tensor"});
  std::filesystem::create_directories(dir.path / "none");
  check_refusal(path_in(dir, "none"), {"one .pt or .pth file per tensor"});
}

TEST_CASE("legacy streams: counts, truncation and trailing bytes are checked") {
  const std::string path = fixture("loader/torch1.13/legacy.pth");
  const std::string bytes = read_file(path);
  TempDir dir;
  // Data of the first storage starts 8 bytes after its count; cutting the file anywhere in
  // the data section, or appending a byte, is caught.
  write_bytes(path_in(dir, "short.pth"), bytes.substr(0, bytes.size() - 1));
  check_refusal(path_in(dir, "short.pth"), {"truncated", "needs"});
  write_bytes(path_in(dir, "long.pth"), bytes + "x");
  check_refusal(path_in(dir, "long.pth"), {"1 bytes after the last legacy storage"});
}

TEST_CASE("truncation at every offset and flipped bytes never crash") {
  TempDir dir;
  const char* sources[] = {"loader/torch2.15/all_dtypes.pth", "loader/torch1.13/views.pth",
                           "loader/torch2.5/legacy.pth", "loader/torch2.15/tensors.safetensors",
                           "loader/torch2.15/deflated.pth", "loader/torch2.15/crc_zero.pth"};
  int refused = 0, opened = 0;
  for (const char* source : sources) {
    const std::string bytes = read_file(fixture(source));
    const std::string path = path_in(dir, std::filesystem::path(source).filename().string());
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
      write_bytes(path, bytes.substr(0, cut));
      try {
        open_and_read_all(path);
        ++opened;
      } catch (const Error& e) {
        ++refused;
        CHECK(std::string(e.what()).find(path) != std::string::npos);
      }
    }
    // Flip every byte in turn: each file either loads (a flipped data byte is still data) or
    // is refused with a pthrun::Error.
    for (std::size_t at = 0; at < bytes.size(); ++at) {
      std::string flipped = bytes;
      flipped[at] = static_cast<char>(flipped[at] ^ 0x5a);
      write_bytes(path, flipped);
      try {
        open_and_read_all(path);
        ++opened;
      } catch (const Error&) {
        ++refused;
      }
    }
  }
  MESSAGE("truncated and flipped files: ", refused, " refused, ", opened, " loaded");
  CHECK(refused > 0);
}

TEST_CASE("refusing hostile sizes takes bounded memory") {
  // Each input is built first; what is measured is the refusal alone.
  std::string deep = PickleBuilder().proto().bytes();
  for (int i = 0; i < 1000000; ++i) deep += "](";
  std::string memo = PickleBuilder().proto(4).op('X').u32(4096).raw(std::string(4096, 'a')).bytes();
  memo += std::string(3000000, '\x94') + ".";  // MEMOIZE one 4 KiB string three million times
  TempDir dir;
  const std::string huge = path_in(dir, "declared_1e12.pth");
  PickleBuilder p;
  p.begin_state_dict().str("w").tensor("FloatStorage", "0", 1000000000000, 0, {1000000000000}, {1});
  write_zip(huge, p.end_state_dict(), {{"0", std::string(24, '\0')}});

  ::malloc_trim(0);
  const HostMemory before = host_memory();
  HostMemorySampler sampler;
  const auto start = std::chrono::steady_clock::now();
  CHECK(unpickle_error(deep).find("nested deeper than 256") != std::string::npos);
  CHECK(unpickle_error(memo).find("more than 1048576 memo entries") != std::string::npos);
  check_refusal(huge, {"1000000000000 float32 elements"});
  const int64_t growth = static_cast<int64_t>(sampler.peak().anon_rss) - static_cast<int64_t>(before.anon_rss);
  MESSAGE("refusing all three took ", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
          " s and ", growth / 1048576.0, " MiB of anonymous memory");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
  CHECK(growth < 128 * 1048576);
}

TEST_CASE("memory is bounded by the bytes read: memo references share, expansion is counted in bytes") {
  // A string stored once and referenced 1,000 times: one copy in memory, 1,000 in the count.
  PickleBuilder shared;
  shared.proto().op(']').op('(').str(std::string(1000, 's')).op('q').raw(std::string(1, '\0'));
  for (int i = 1; i < 1000; ++i) shared.op('h').raw(std::string(1, '\0'));
  const std::string bytes = shared.op('e').op('.').bytes();
  const Unpickled u = unpickle({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, {"x"}, PersistentIds::zip);
  REQUIRE(u.root.items().size() == 1000);
  CHECK(u.root.items()[0].as_string().data() == u.root.items()[999].as_string().data());  // shared, not copied
  // The same expansion over a smaller budget is refused, as bytes of values.
  PickleLimits tight;
  tight.memory_base = 500'000;
  tight.memory_per_byte = 1;
  CHECK(unpickle_error(bytes, tight).find("expands to more than 503") != std::string::npos);
  // Objects created are charged as they are made, against what has been read so far.
  std::string nones = PickleBuilder().proto().op(']').op('(').bytes() + std::string(100000, 'N') + "e.";
  tight.memory_base = 1 << 20;
  CHECK(unpickle_error(nones, tight).find("would take more than") != std::string::npos);
  CHECK_NOTHROW(unpickle({reinterpret_cast<const uint8_t*>(nones.data()), nones.size()}, {"x"}, PersistentIds::zip));
}

TEST_CASE("pickled strings must be valid UTF-8; the error gives the byte") {
  const std::string bad = PickleBuilder().proto().str("nor\xd3" "2").op('.').bytes();
  CHECK(unpickle_error(bad) == "test.pkl: a str that is not valid UTF-8: byte 0xd3 at byte 10 (BINUNICODE at byte 2)");
  CHECK(unpickle_error(PickleBuilder().proto().op('\x8c').raw("\x02\xc0\xaf").op('.').bytes())
            .find("byte 0xc0 at byte 4 (SHORT_BINUNICODE at byte 2)") != std::string::npos);  // overlong
  CHECK(unpickle_error(PickleBuilder().proto().str("\xed\xa0\x80").op('.').bytes()).find("byte 0xed") !=
        std::string::npos);  // a surrogate
  CHECK(unpickle_error(PickleBuilder().proto().global("os\xff", "system").op('.').bytes())
            .find("a global's module that is not valid UTF-8") != std::string::npos);
  // Valid text of every width passes; bytes values may hold anything.
  const std::string ok = PickleBuilder().proto().str("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80").op('.').bytes();
  CHECK(unpickle({reinterpret_cast<const uint8_t*>(ok.data()), ok.size()}, {"x"}, PersistentIds::zip).root.as_string() ==
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  const std::string raw = PickleBuilder().proto().op('C').raw("\x02\xff\xfe").op('.').bytes();
  CHECK(unpickle({reinterpret_cast<const uint8_t*>(raw.data()), raw.size()}, {"x"}, PersistentIds::zip).root.as_string() ==
        "\xff\xfe");
}

TEST_CASE("the pickle limit applies to the pickle: bytes after STOP are never looked at") {
  PickleLimits small;
  small.max_bytes = 64;
  std::string pickle = PickleBuilder().proto().str("short").op('.').bytes() + std::string(1000, '\xff');
  const Unpickled u = unpickle({reinterpret_cast<const uint8_t*>(pickle.data()), pickle.size()}, {"x"}, PersistentIds::zip, small);
  CHECK(u.root.as_string() == "short");
  CHECK(u.end == 13);
  // A pickle that does not stop within the limit says so, not that it is truncated.
  const std::string endless = PickleBuilder().proto().op(']').bytes() + std::string(1000, 'N');
  CHECK(unpickle_error(endless, small).find("the pickle does not end within the limit of 64 bytes") != std::string::npos);
  const std::string long_string = PickleBuilder().proto().str(std::string(100, 'x')).op('.').bytes();
  CHECK(unpickle_error(long_string, small).find("does not end within the limit") != std::string::npos);
}
