// The catalogue of bad input: files and arguments pthrun must refuse, each with the one line it
// prints and the status it exits with. Nothing crashes, nothing is executed, and a command that
// fails leaves no partial output file (outputs are written under a temporary name and renamed).
// Every line printed is valid UTF-8 without control characters, whatever the file held, and
// names the file it is about. The hostile files of tests/fixtures/hostile (memory, forged
// lines, terminal escapes) are here too; their large versions are in test_hostile.cpp.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/file_util.h"
#include "runtime/json.h"
#include "tests/cli_runner.h"

using namespace pthrun;
using namespace pthrun::test;

namespace {

const std::string fixtures = std::string(PTHRUN_SOURCE_DIR) + "/tests/fixtures/";
const std::string model = fixtures + "model/book_noqkv.pth";  // 2 layers, width 48, 4 heads, context 32, V 96

struct Case {
  const char* what;
  std::string args;      // after "pthrun"; {dir} is the test's scratch folder
  std::string expected;  // stderr must start with "error: " and contain this
  int status = 1;
  std::string env = "";
  std::string output = "";  // a file the failed command must not leave behind
};

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at; (at = text.find(from)) != std::string::npos;) text.replace(at, from.size(), to);
  return text;
}

// The bad files made at test time, beside the committed reject fixtures.
void make_files(const TempDir& dir) {
  write_file_atomically(dir / "empty.pth", "");
  std::string noise(4096, '\0');
  for (std::size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<char>((i * 2654435761u) >> 13);
  write_file_atomically(dir / "random.pth", noise);
  write_file_atomically(dir / "text.json", "{\"a\": 1}\n");
  fs::create_directories(dir.path / "emptydir");
  // safetensors whose header claims a billion bytes, and one whose header is not JSON.
  write_file_atomically(dir / "long_header.safetensors", std::string("\x00\xca\x9a\x3b\x00\x00\x00\x00{}", 10));
  write_file_atomically(dir / "bad_json.safetensors", std::string("\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":}  ", 16));
  // A legacy stream cut short, and GPT-2 folders with a tensor missing or of the wrong shape.
  const std::string legacy = read_file(fixtures + "loader/torch1.13/legacy.pth");
  write_file_atomically(dir / "legacy_cut.pth", legacy.substr(0, legacy.size() - 100));
  REQUIRE(run_pthrun("convert " + quote(model) + " --heads 4 --per-tensor -o " + quote(dir / "missing")).status == 0);
  fs::remove(dir.path / "missing" / "trf_blocks.0.att.W_key.weight.pth");
  REQUIRE(run_pthrun("convert " + quote(model) + " --heads 4 --per-tensor -o " + quote(dir / "shape")).status == 0);
  fs::copy_file(dir.path / "shape" / "trf_blocks.0.ff.layers.0.bias.pth", dir.path / "shape" / "trf_blocks.0.norm1.shift.pth",
                fs::copy_options::overwrite_existing);
  // A folder with a file whose name forges a line (and which is empty).
  fs::create_directories(dir.path / "forged_folder");
  write_file_atomically(dir / "forged_folder/w\nerror: forged line.pth", "");
  // config.json beside a model: a number of a million digits, one beyond 64 bits, a sparse 3 GiB file.
  for (const std::string name : {"digits", "big_heads", "sparse"}) {
    fs::create_directories(dir.path / name);
    fs::copy_file(model, dir.path / name / "model.pth");
  }
  write_file_atomically(dir / "digits/config.json", "{\"n_head\": " + std::string(1000000, '7') + "}");
  write_file_atomically(dir / "big_heads/config.json", "{\"n_head\": 99999999999999999999}");
  write_file_atomically(dir / "sparse/config.json", "");
  REQUIRE(::truncate((dir / "sparse/config.json").c_str(), off_t(3) << 30) == 0);
}

std::vector<Case> catalogue() {
  const std::string reject = fixtures + "reject/";
  const std::string hostile = fixtures + "hostile/";
  const std::string g = "generate " + quote(model) + " --heads 4 ";
  return {
      // Files that are not checkpoints, or not ones pthrun reads.
      {"missing file", "inspect {dir}/missing.pth", "{dir}/missing.pth: cannot open: No such file or directory"},
      {"empty file", "inspect {dir}/empty.pth", "{dir}/empty.pth: the file is empty"},
      {"random bytes", "inspect {dir}/random.pth", "not a checkpoint pthrun can read"},
      {"a JSON file", "inspect {dir}/text.json", "expected a torch.save zip, a legacy torch file, safetensors"},
      {"an empty folder", "inspect {dir}/emptydir", "a folder checkpoint needs one .pt or .pth file per tensor"},
      {"a zip cut short", "inspect " + reject + "truncated.pth", "no end of central directory record"},
      {"TorchScript", "inspect " + reject + "torchscript.pt", "this is a TorchScript archive"},
      {"torch.package", "inspect " + reject + "torch_package.pt", "this is a torch.package archive"},
      {"the pre-0.1.10 tar format", "inspect " + reject + "tar_legacy.pth", "a tar archive: the checkpoint format of torch before 0.1.10"},
      {"a legacy stream cut short", "inspect {dir}/legacy_cut.pth", "legacy_cut.pth: legacy storage '416342144' at byte 905: truncated"},
      {"safetensors header past the end", "inspect {dir}/long_header.safetensors", "safetensors header of 1000000000 bytes (the file has 10"},
      {"safetensors header not JSON", "inspect {dir}/bad_json.safetensors", "safetensors header: invalid JSON at byte 5"},
      // Pickles that would run code, or that hold what pthrun does not load.
      {"os.system", "inspect " + reject + "os_system.pth", "global os.system is not allowed: pthrun reads only tensors and plain values, so nothing was executed"},
      {"builtins.eval", "inspect " + reject + "builtins_eval.pth", "global builtins.eval is not allowed"},
      {"a NumPy array", "inspect " + reject + "numpy_global.pth", "numpy arrays are not supported"},
      {"a pickled nn.Module", "inspect " + reject + "module_pickle.pth", "this file pickles a Python object of class __main__.Tiny; save model.state_dict() instead"},
      {"an unknown opcode", "inspect " + reject + "unknown_opcode.pth", "byte 0xff is not a pickle opcode"},
      {"nesting 100,000 deep", "inspect " + reject + "deep_nesting.pth", "nested deeper than 256 levels"},
      {"a quantized tensor", "inspect " + reject + "quantized.pth", "quantized tensors are not supported"},
      {"a sparse tensor", "inspect " + reject + "sparse.pth", "sparse tensors are not supported"},
      {"a meta tensor", "inspect " + reject + "meta.pth", "meta tensors have no data to load"},
      {"float8", "inspect " + fixtures + "loader/torch2.15/float8.pth", "unsupported dtype float8_e4m3fn (tensor 'e4m3')"},
      {"uint16", "inspect " + fixtures + "loader/torch2.15/uint16.pth", "unsupported dtype uint16 (tensor 'u16')"},
      // Archives and storages that do not add up.
      {"a view outside its storage", "inspect " + reject + "view_out_of_range.pth", "reaches element 8 of a storage of 6 elements"},
      {"a record shorter than its tensor", "inspect " + reject + "storage_size_mismatch.pth", "holds 16 bytes, but the pickle declares 6 float32 elements (24 bytes)"},
      {"overlapping records", "inspect " + reject + "overlap.pth", "entries overlap/data/0 and overlap/data/1 overlap"},
      {"central directory and local header disagree", "inspect " + reject + "cd_local_mismatch.pth", "the central directory and the local header at byte 326 disagree"},
      // Hostile files (tests/fixtures/hostile): memory amplification, refused early.
      {"a string referenced 2,000 times through the memo", "inspect " + hostile + "memo_string.pth",
       "entry memo_string/data.pkl: the pickle expands to more than"},
      {"nested dicts under one long memoized key", "inspect " + hostile + "nested_keys.pth",
       "a key path of 2048 bytes, more than the 1024 allowed"},
      {"a safetensors shape of 50,000 sizes", "inspect " + hostile + "shape_items.safetensors",
       "safetensors header: invalid JSON at byte 46: array 'shape' has more than 8 items"},
      {"a deflated data.pkl inflating 1,000 times", "inspect " + hostile + "inflation.pth",
       "entry inflation/data.pkl: inflates to 67108870 bytes, more than the 6282080 allowed"},
      {"a tensor named for block 10^12", "forward " + hostile + "forged_layer.pth --heads 4 --tokens 1 -o {dir}/o.npy",
       "no tensors for block 2 (trf_blocks.2.*), though 'trf_blocks.1000000000000.norm1.scale' names block", 1, "",
       "{dir}/o.npy"},
      {"a sparse 3 GiB config.json", "forward {dir}/sparse/model.pth --tokens 1 -o {dir}/o.npy",
       "sparse/config.json: larger than the limit of 1048576 bytes"},
      // Text from files that would forge an error line: escaped, on the one line.
      {"a storage key with a forged line", "inspect " + hostile + "forged_key.pth",
       "the pickle refers to storage '0\\nerror: forged line', but there is no entry"},
      {"an entry name with a forged line", "inspect " + hostile + "forged_entry.pth",
       "entry outside\\nerror: forged line lies outside the archive's folder forged_entry/"},
      {"a tensor name with a forged line", "inspect " + hostile + "forged_tensor.pth",
       "tensor 'w\\nerror: forged line' (shape [3, 3], stride [3, 1], offset 0) reaches element 8"},
      {"a byteorder record with a forged line", "inspect " + hostile + "forged_byteorder.pth",
       "entry forged_byteorder/byteorder: expected 'little' or 'big', found 'little\\nerror: forged line'"},
      {"a file name in a folder with a forged line", "inspect {dir}/forged_folder",
       "forged_folder/w\\nerror: forged line.pth: the file is empty"},
      {"a name that is not UTF-8", "inspect " + hostile + "invalid_utf8.pth",
       "entry invalid_utf8/data.pkl: a str that is not valid UTF-8: byte 0xd3 at byte 51"},
      {"a number of a million digits in config.json", "forward {dir}/digits/model.pth --tokens 1 -o {dir}/o.npy",
       "digits/config.json: invalid JSON at byte 1000010: number overflow parsing '7777"},
      // Every error names its file, and the entry when there is one.
      {"a data.pkl that does not match its CRC", "inspect " + hostile + "crc_mismatch.pth",
       "crc_mismatch.pth: entry crc_mismatch/data.pkl: corrupt: its bytes have CRC-32 0x543aab39, the archive records "
       "0xfd71cb08"},
      {"a storage size beyond 64 bits", "inspect " + hostile + "storage_overflow.pth",
       "storage_overflow.pth: entry storage_overflow/data/0: storage size overflows: 4611686018427387904 * 4"},
      {"a negative safetensors offset", "inspect " + hostile + "negative_offset.safetensors",
       "negative_offset.safetensors: tensor 'a': expected a non-negative integer within 64 bits, found -1"},
      {"a safetensors size beyond 64 bits", "inspect " + hostile + "size_overflow.safetensors",
       "size_overflow.safetensors: tensor 'a': tensor size overflows: 4294967296 * 4294967296"},
      {"a head count beyond 64 bits in config.json", "forward {dir}/big_heads/model.pth --tokens 1 -o {dir}/o.npy",
       "big_heads/config.json: 'n_head': expected an integer within 64 bits, found 1e+20"},
      // Checkpoints that are not the GPT-2 asked for.
      {"not a GPT-2", "generate " + fixtures + "loader/torch2.15/all_dtypes.pth --tokens 1", "does not look like a GPT-2 state dict"},
      {"a tensor missing", "generate {dir}/missing --heads 4 --tokens 1", "does not match GPT-2 in book naming (2 layers, width 48): missing trf_blocks.0.att.W_key.weight"},
      {"a tensor of the wrong shape", "generate {dir}/shape --heads 4 --tokens 1", "trf_blocks.0.norm1.shift has shape [192], expected [48]"},
      {"an unknown --key", "inspect " + fixtures + "model/book_checkpoint.pth --key nope", "no entry 'nope' in the checkpoint (its top-level keys: model_state_dict, optimizer_state_dict, epoch)"},
      {"no head count", "generate " + quote(model) + " --tokens 1", "cannot tell the number of attention heads"},
      {"heads that do not divide the width", "generate " + quote(model) + " --heads 5 --tokens 1", "--heads gives 5 heads, which do not divide the width 48"},
      // Arguments that are well-formed but wrong for the model or the machine.
      {"a token outside the vocabulary", g + "--tokens 1,96", "--tokens: id 96 is outside the model's vocabulary of 96 ids"},
      {"a prompt longer than the context", "", ""},  // filled in below: 33 ids
      {"a text prompt for a model without GPT-2's vocabulary", g + "--prompt hi", "give the prompt as --tokens"},
      {"a device that is not there", g + "--tokens 1 --device cuda:7", "--device cuda:7: "},
      {"f64 weights", g + "--tokens 1 --device cpu --dtype f64", "--dtype f64: expected f32, bf16, f16 or int8"},
      {"top-p of zero", g + "--tokens 1 --top-p 0", "--top-p 0 keeps no token"},
      {"a bad PTHRUN_ALLOC_CONF", g + "--tokens 1", "PTHRUN_ALLOC_CONF: unknown key 'colour'", 1, "PTHRUN_ALLOC_CONF=colour:red"},
      {"a max_split_size_mb past size_t (found by fuzz_cli_args)", g + "--tokens 1",
       "PTHRUN_ALLOC_CONF max_split_size_mb: expected 1 to 17592186044415, got 1e300", 1,
       "PTHRUN_ALLOC_CONF=max_split_size_mb:1e300"},
      {"too little memory", g + "--tokens 1", "out of memory on cpu: tried to allocate", 1, "PTHRUN_ALLOC_CONF=cap:64KiB"},
      {"an id the tokenizer lacks", "tokenize --decode 50257", "token id 50257 is not in the vocabulary"},
      {"a vocabulary folder that is not there", "tokenize --vocab /nonexistent hi", "/nonexistent: expected encoder.json + vocab.bpe"},
      {"a trace that is not one", "alloc-report {dir}/text.json -o {dir}/report.svg", "not a pthrun allocator trace", 1, "", "{dir}/report.svg"},
      {"a tensor name the checkpoint lacks", "dump " + quote(model) + " nope.weight -o {dir}/d.npy", "no tensor named 'nope.weight'", 1, "", "{dir}/d.npy"},
      {"forward with a bad token", "forward " + quote(model) + " --heads 4 --tokens 1,500 -o {dir}/f.npy", "id 500 is outside", 1, "", "{dir}/f.npy"},
      {"an output folder that is not there", "convert " + quote(model) + " --heads 4 -o /nonexistent/dir/out.pth", "cannot create /nonexistent/dir/out.pth: No such file or directory"},
      {"convert of a bad file", "convert " + reject + "os_system.pth -o {dir}/c.pth", "global os.system is not allowed", 1, "", "{dir}/c.pth"},
      {"load-bench of an empty folder", "load-bench {dir}/emptydir", "a folder checkpoint needs one .pt or .pth file per tensor"},
      // Usage errors: exit status 2, and a pointer to --help.
      {"an unknown command", "frobnicate", "unknown command 'frobnicate'", 2},
      {"an unknown option", g + "--tokens 1 --colour red", "unknown option '--colour' for 'pthrun generate'", 2},
      {"an option without its value", g + "--tokens", "option --tokens needs a value (IDS)", 2},
      {"a number that is not one", g + "--tokens 1 -n many", "option --max-new-tokens: expected an integer, got 'many'", 2},
      {"a number out of range", g + "--tokens 1 --top-k -3", "option --top-k: -3 is out of range", 2},
      {"token ids that are not numbers", g + "--tokens 1,x", "option --tokens: expected comma-separated integers, got 'x'", 2},
      {"no prompt", g, "give the prompt as --prompt TEXT or as --tokens IDS", 2},
      {"a missing checkpoint argument", "inspect", "missing the checkpoint (CKPT) for 'pthrun inspect'", 2},
  };
}

}  // namespace

TEST_CASE("the catalogue of bad input: one line, the right status, no partial output") {
  TempDir dir("bad-input");
  make_files(dir);
  std::vector<Case> cases = catalogue();
  // A prompt one token longer than the context of 32.
  for (Case& c : cases)
    if (std::string(c.what) == "a prompt longer than the context") {
      std::string ids = "1";
      for (int i = 1; i < 33; ++i) ids += ",1";
      c.args = "generate " + quote(model) + " --heads 4 --tokens " + ids;
      c.expected = "prompt 0 has 33 tokens, more than the model's context of 32";
    }
  int distinct_classes = 0;
  for (const Case& c : cases) {
    const std::string args = replace_all(c.args, "{dir}", dir.path.string());
    const std::string expected = replace_all(c.expected, "{dir}", dir.path.string());
    CAPTURE(c.what);
    CAPTURE(args);
    const CliResult r = run_pthrun(args, c.env);
    CAPTURE(r.err);
    CHECK(r.status == c.status);
    CHECK(r.err.rfind("error: ", 0) == 0);
    CHECK(r.err.find(expected) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);  // one line
    CHECK(is_clean_output(r.err));
    CHECK(r.err.size() < 2000);
    if (!c.output.empty()) CHECK_FALSE(fs::exists(replace_all(c.output, "{dir}", dir.path.string())));
    ++distinct_classes;
  }
  CHECK(distinct_classes >= 75);
  // No temporary file of any failed command is left in the scratch folder.
  for (const auto& entry : fs::directory_iterator(dir.path))
    CHECK_MESSAGE(entry.path().filename().string().find(".tmp-") == std::string::npos, entry.path().string());
}

TEST_CASE("names a terminal would act on are printed escaped, and --json is valid UTF-8") {
  // names_escape.pth: real torch.save of names with a forged line, OSC and CSI sequences, a
  // NUL, a tab, a right-to-left override and a C1 control; the manifest lists them.
  const std::string path = fixtures + "hostile/names_escape.pth";
  const std::vector<std::string> names = json_array(parse_json(read_file(path + ".json")), "names");
  const CliResult table = run_pthrun("inspect " + quote(path));
  REQUIRE(table.status == 0);
  CHECK(is_clean_output(table.out));
  CHECK(table.out.find("w\\nerror: forged line  ") != std::string::npos);
  CHECK(table.out.find("\\x1b]0;pwned\\a\\x1b[2J  ") != std::string::npos);
  CHECK(table.out.find("nul\\x00cut  ") != std::string::npos);
  CHECK(table.out.find("abc\\u202egnp.exe  ") != std::string::npos);
  CHECK(std::count(table.out.begin(), table.out.end(), '\n') == 4 + 1 + names.size());  // one line per tensor
  const CliResult json = run_pthrun("inspect --json " + quote(path));
  REQUIRE(json.status == 0);
  CHECK(is_clean_output(json.out));
  std::vector<std::string> listed;
  const JsonValue doc = parse_json(json.out);
  for (const JsonValue& t : json_array(doc, "tensors")) listed.push_back(json_string(t, "name"));
  CHECK(listed == names);  // exactly, through JSON's escapes

  // A folder whose file names hold a newline and a byte that is not UTF-8: the table escapes
  // them, --json replaces the byte with U+FFFD.
  TempDir dir("names");
  REQUIRE(run_pthrun("convert " + quote(model) + " --heads 4 --per-tensor -o " + quote(dir / "folder")).status == 0);
  fs::rename(dir.path / "folder" / "tok_emb.weight.pth", dir.path / "folder" / "tok\nemb\xff.pth");
  const CliResult folder = run_pthrun("inspect " + quote(dir / "folder"));
  REQUIRE(folder.status == 0);
  CHECK(is_clean_output(folder.out));
  CHECK(folder.out.find("\ntok\\nemb\\xff  ") != std::string::npos);
  const CliResult folder_json = run_pthrun("inspect --json " + quote(dir / "folder"));
  REQUIRE(folder_json.status == 0);
  CHECK(is_clean_output(folder_json.out));
  bool found = false;
  const JsonValue folder_doc = parse_json(folder_json.out);
  for (const JsonValue& t : json_array(folder_doc, "tensors"))
    found = found || json_string(t, "name") == "tok\nemb\xef\xbf\xbd";
  CHECK(found);
}
