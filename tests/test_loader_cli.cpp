// The pthrun binary's loader commands, run as a user runs them: `inspect` (table and JSON)
// against the fixtures' manifests, `dump` read back as .npy (by this test and by NumPy when a
// Python with it was found), and errors: one line starting "error:", exit status 1, or 2 for
// usage errors.
#include <cstdlib>
#include <map>
#include <sstream>

#include "loader/zip_archive.h"
#include "loader_test_util.h"

using namespace pthrun;
using namespace pthrun::test;

namespace {

void check_error(const CliResult& r, int status, const std::string& part) {
  CHECK(r.status == status);
  CHECK(r.out.empty());
  CHECK_MESSAGE(r.err.rfind("error: ", 0) == 0, r.err);
  CHECK_MESSAGE(r.err.find('\n') == r.err.size() - 1, r.err);  // exactly one line
  CHECK_MESSAGE(r.err.find(part) != std::string::npos, r.err, " lacks: ", part);
}


}  // namespace

TEST_CASE("inspect prints the format and one row per tensor") {
  const std::string path = fixture("loader/torch2.15/views.pth");
  const CliResult r = run_pthrun("inspect " + path);
  CHECK(r.status == 0);
  CHECK(r.err.empty());
  CHECK(r.out.find("format: zip (root folder 'views')") != std::string::npos);
  CHECK(r.out.find("tensors: 19") != std::string::npos);
  CHECK(r.out.find("name ") != std::string::npos);
  // transposed: float32, shape [4, 3], stride [1, 4], offset 0, 48 bytes
  const std::size_t row = r.out.find("\ntransposed ");
  REQUIRE(row != std::string::npos);
  const std::string line = r.out.substr(row + 1, r.out.find('\n', row + 1) - row - 1);
  CHECK(line.find("float32") != std::string::npos);
  CHECK(line.find("[4, 3]") != std::string::npos);
  CHECK(line.find("[1, 4]") != std::string::npos);
  CHECK(line.substr(line.size() - 2) == "48");
  const CliResult ckpt = run_pthrun("inspect " + fixture("loader/torch2.15/checkpoint.pth"));
  CHECK(ckpt.out.find("  epoch = 3\n") != std::string::npos);
  CHECK(ckpt.out.find("  name = \"run-1\"\n") != std::string::npos);
}

TEST_CASE("inspect --json matches the manifests of every format") {
  for (const std::string file : {"loader/torch1.13/views.pth", "loader/torch2.5/checkpoint.pth", "loader/torch2.15/legacy.pth",
                           "loader/torch2.15/tensors.safetensors", "loader/torch2.15/per_tensor"}) {
    const std::string path = fixture(file);
    INFO(path);
    const CliResult r = run_pthrun("inspect --json " + path);
    REQUIRE(r.status == 0);
    const JsonValue doc = parse_json(r.out);
    const JsonValue m = manifest(std::string(path) + ".json");
    CHECK(doc.at("schema").get<std::string>() == "pthrun.inspect/1");
    CHECK(doc.at("file").get<std::string>() == path);
    CHECK(doc.at("format").get<std::string>() == m.at("format").get<std::string>());
    CHECK(doc.at("key").is_null());
    std::map<std::string, const JsonValue*> ours;
    for (const JsonValue& t : doc.at("tensors")) ours[t.at("name").get<std::string>()] = &t;
    REQUIRE(ours.size() == m.at("tensors").size());
    uint64_t total = 0;
    for (const JsonValue& e : m.at("tensors")) {
      const JsonValue& t = *ours.at(e.at("name").get<std::string>());
      CHECK(t.at("dtype").get<std::string>() == e.at("dtype").get<std::string>());
      CHECK(json_ints(t.at("shape")) == json_ints(e.at("shape")));
      CHECK(json_ints(t.at("stride")) == json_ints(e.at("stride")));
      CHECK(t.at("storage_offset").get<int64_t>() == e.at("storage_offset").get<int64_t>());
      const auto size = itemsize(*parse_dtype(e.at("dtype").get<std::string>()));
      CHECK(t.at("nbytes").get<uint64_t>() == e.at("values").size() * size);
      total += t.at("nbytes").get<uint64_t>();
    }
    CHECK(doc.at("total_bytes").get<uint64_t>() == total);
    CHECK(same_json(doc.at("plain"), m.at("plain")));
  }
  const CliResult keyed = run_pthrun("inspect --json --key model_state_dict " + fixture("loader/torch1.13/checkpoint.pth"));
  const JsonValue doc = parse_json(keyed.out);
  CHECK(doc.at("key").get<std::string>() == "model_state_dict");
  REQUIRE(doc.at("tensors").size() == 4);
  CHECK(doc.at("tensors")[0].at("name").get<std::string>() == "fc1.weight");
}

TEST_CASE("dump writes the tensor's values as .npy, contiguous, bf16 widened to float32") {
  TempDir dir;
  struct Case {
    const char* file;
    const char* name;
    const char* key;
    const char* descr;
  };
  const Case cases[] = {
      {"loader/torch2.15/views.pth", "transposed", nullptr, "<f4"},
      {"loader/torch2.15/views.pth", "permuted", nullptr, "<i4"},
      {"loader/torch2.15/views.pth", "scalar", nullptr, "<f4"},
      {"loader/torch2.15/views.pth", "empty", nullptr, "<f4"},
      {"loader/torch1.13/all_dtypes.pth", "float16", nullptr, "<f2"},
      {"loader/torch1.13/all_dtypes.pth", "bfloat16", nullptr, "<f4"},
      {"loader/torch1.13/all_dtypes.pth", "int64", nullptr, "<i8"},
      {"loader/torch1.13/all_dtypes.pth", "bool", nullptr, "|b1"},
      {"loader/torch1.13/all_dtypes.pth", "uint8", nullptr, "|u1"},
      {"loader/torch2.5/checkpoint.pth", "fc1.weight", "model_state_dict", "<f4"},
      {"loader/torch2.5/checkpoint.pth", "fc2.bias", nullptr, "<f4"},  // found in the state dict pthrun picks
      {"loader/torch2.15/tensors.safetensors", "half", nullptr, "<f2"},
  };
  for (const Case& c : cases) {
    const std::string path = fixture(c.file), out = path_in(dir, str(c.name, ".npy"));
    INFO(path << " " << c.name);
    const CliResult r = run_pthrun(str("dump ", path, " ", c.name, c.key ? str(" --key ", c.key) : "", " -o ", out));
    REQUIRE_MESSAGE(r.status == 0, r.err);
    const NpyFile npy = read_npy(out);
    CHECK(npy.descr == c.descr);
    // The manifest's entry: under its full name (model_state_dict.<name> for the checkpoint).
    const JsonValue m = manifest(path + ".json");
    const JsonValue* entry = nullptr;
    for (const JsonValue& t : m.at("tensors")) {
      const std::string& name = t.at("name").get<std::string>();
      if (name == c.name || name == str("model_state_dict.", c.name)) entry = &t;
    }
    REQUIRE(entry);
    CHECK(npy.shape == json_ints(entry->at("shape")));
    const DType stored = std::string(c.descr) == "<f4" ? DType::f32 : *parse_dtype(entry->at("dtype").get<std::string>());
    const Tensor values = Tensor::from_host(npy.data.data(), {static_cast<int64_t>(npy.data.size() / itemsize(stored))}, stored);
    check_values(values, entry->at("values"), c.name);
  }
  // NumPy reads the files too.
  const auto pythons = torch_pythons();
  if (pythons.empty()) {
    MESSAGE("no Python with numpy found at configure time: .npy files not checked with NumPy");
    return;
  }
  const std::string script = path_in(dir, "check.py");
  write_bytes(script,
              "import json, math, sys, numpy\n"
              "def number(x):\n"
              "    if isinstance(x, int): return x\n"
              "    if math.isnan(x): return 'nan'\n"
              "    if math.isinf(x): return 'inf' if x > 0 else '-inf'\n"
              "    if x == 0 and math.copysign(1, x) < 0: return '-0.0'\n"
              "    return x\n"
              "a = numpy.load(sys.argv[1])\n"
              "flat = a.reshape(-1).astype(numpy.int64 if a.dtype.kind in 'biu' else numpy.float64)\n"
              "print(json.dumps({'descr': a.dtype.str, 'shape': list(a.shape),\n"
              "                  'values': [number(x) for x in flat.tolist()]}))\n");
  const std::pair<const char*, const char*> checked[] = {{"transposed", "loader/torch2.15/views.pth"},
                                                         {"bfloat16", "loader/torch1.13/all_dtypes.pth"},
                                                         {"int64", "loader/torch1.13/all_dtypes.pth"},
                                                         {"bool", "loader/torch1.13/all_dtypes.pth"}};
  for (const auto& [name, file] : checked) {
    const std::string out = path_in(dir, str(name, ".npy")), json = path_in(dir, "numpy.json");
    REQUIRE(std::system(str(pythons.front(), " ", script, " ", out, " > ", json).c_str()) == 0);
    const JsonValue got = parse_json(read_file(json));
    const NpyFile npy = read_npy(out);
    CHECK(got.at("descr").get<std::string>() == npy.descr);
    CHECK(json_ints(got.at("shape")) == npy.shape);
    const JsonValue m = manifest(fixture(file) + ".json");
    for (const JsonValue& t : m.at("tensors"))
      if (t.at("name").get<std::string>() == name) CHECK_MESSAGE(same_json(got.at("values"), t.at("values")), name);
  }
}

TEST_CASE("errors: one line, status 1; usage errors status 2") {
  TempDir dir;
  for (const std::string file : {"os_system.pth", "module_pickle.pth", "truncated.pth", "deep_nesting.pth", "torchscript.pt"}) {
    const std::string path = fixture(str("reject/", file));
    check_error(run_pthrun("inspect " + path), 1, path);
    check_error(run_pthrun(str("dump ", path, " weight -o ", path_in(dir, "x.npy"))), 1, path);
  }
  check_error(run_pthrun("inspect " + fixture("loader/torch2.15/float8.pth")), 1, "unsupported dtype float8_e4m3fn");
  check_error(run_pthrun("inspect /nonexistent/model.pth"), 1, "/nonexistent/model.pth: cannot open");
  check_error(run_pthrun("inspect"), 2, "missing the checkpoint");
  check_error(run_pthrun("inspect --bogus x.pth"), 2, "unknown option '--bogus'");
  check_error(run_pthrun("dump " + fixture("loader/torch2.15/views.pth") + " base"), 2, "-o OUT.npy");
  check_error(run_pthrun(str("dump ", fixture("loader/torch2.15/views.pth"), " nope -o ", path_in(dir, "n.npy"))), 1,
              "no tensor named 'nope'");
  check_error(run_pthrun("inspect --key model " + fixture("loader/torch2.15/checkpoint.pth")), 1, "no entry 'model'");
  CHECK_FALSE(std::filesystem::exists(path_in(dir, "x.npy")));
  CHECK_FALSE(std::filesystem::exists(path_in(dir, "n.npy")));
}

TEST_CASE("verify checks every record; --verify checks what a model command loads") {
  const CliResult ok = run_pthrun("verify " + fixture("loader/torch2.15/views.pth"));
  CHECK(ok.status == 0);
  CHECK(ok.out.find("  views/data.pkl ") != std::string::npos);
  CHECK(ok.out.find("  views/data/13 ") != std::string::npos);
  CHECK(ok.out.find("20 records: 20 verified, 0 not checksummed") != std::string::npos);
  const CliResult crc_zero = run_pthrun("verify " + fixture("loader/torch2.15/crc_zero.pth"));
  CHECK(crc_zero.status == 0);
  CHECK(crc_zero.out.find("not checksummed\n") != std::string::npos);
  const CliResult legacy = run_pthrun("verify " + fixture("loader/torch1.13/legacy.pth"));
  CHECK(legacy.status == 0);
  CHECK(legacy.out.find("legacy files carry no checksums: nothing was verified") != std::string::npos);
  const CliResult json = run_pthrun("verify --json " + fixture("loader/torch2.15/views.pth"));
  CHECK(json.status == 0);
  const JsonValue doc = parse_json(json.out);
  CHECK(json_array(doc, "records").size() == 20);
  CHECK(json_string(json_array(doc, "records")[0], "result") == "verified");

  // One changed byte in a weight: verify and --verify refuse, naming the record; a load
  // without --verify does not read the CRCs of data records and goes on.
  TempDir dir;
  const std::string model = fixture("model/book_noqkv.pth");
  const auto zip = ZipArchive::open(MappedFile::open(model));
  const ZipEntry* weight = zip->find("book_noqkv/data/3");
  REQUIRE(weight);
  std::string bytes = read_file(model);
  bytes[static_cast<std::size_t>(weight->data_offset + 7)] ^= 0x10;
  write_bytes(path_in(dir, "book_noqkv.pth"), bytes);
  check_error(run_pthrun("verify " + path_in(dir, "book_noqkv.pth")), 1,
              path_in(dir, "book_noqkv.pth") + ": entry book_noqkv/data/3: corrupt: its bytes have CRC-32");
  const std::string forward = "forward " + path_in(dir, "book_noqkv.pth") + " --heads 4 --tokens 1,2 -o " + path_in(dir, "l.npy");
  check_error(run_pthrun(forward + " --verify"), 1, "entry book_noqkv/data/3: corrupt");
  CHECK_FALSE(std::filesystem::exists(path_in(dir, "l.npy")));
  CHECK(run_pthrun(forward).status == 0);
  CHECK(run_pthrun("forward " + model + " --heads 4 --tokens 1,2 --verify -o " + path_in(dir, "m.npy")).status == 0);
}
