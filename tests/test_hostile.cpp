// Hostile files whose harm is memory: small files that used to make pthrun take gigabytes
// before any check refused them. Each is built here at run time (some are large), run through
// the real `pthrun` in a child process, and must be refused with one line while the child's
// peak resident memory (wait4's ru_maxrss) stays within max(512 MiB, 64 x the bytes the files
// occupy on disk). The table of peaks is printed; README's Hardening section quotes it.
#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "loader/pth_writer.h"
#include "loader/zip_writer.h"
#include "loader_test_util.h"

using namespace pthrun;
using namespace pthrun::test;

namespace {

const std::string model = fixture("model/book_noqkv.pth");  // 2 layers, width 48, 4 heads

struct Measured {
  int status = -1;
  std::string err;
  uint64_t peak_rss = 0;  // bytes
  double seconds = 0;
};

// Runs build/pthrun with `args`, its stderr captured; the child's peak RSS from wait4.
Measured run_measured(const std::vector<std::string>& args, const TempDir& dir) {
  const std::string err_path = dir / "stderr.txt";
  std::vector<std::string> argv_text = {PTHRUN_BINARY_DIR "/pthrun"};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(err, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};
  REQUIRE(::wait4(pid, &status, 0, &usage) == pid);
  Measured m;
  m.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  m.err = read_file(err_path);
  m.peak_rss = static_cast<uint64_t>(usage.ru_maxrss) * 1024;
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return m;
}

// Bytes a path occupies on disk (a sparse file counts what it holds), folders summed.
uint64_t disk_bytes(const std::string& path) {
  uint64_t total = 0;
  auto add = [&](const std::filesystem::path& p) {
    struct stat info {};
    if (::stat(p.c_str(), &info) == 0 && S_ISREG(info.st_mode)) total += static_cast<uint64_t>(info.st_blocks) * 512;
  };
  if (std::filesystem::is_directory(path))
    for (const auto& entry : std::filesystem::directory_iterator(path)) add(entry.path());
  else
    add(path);
  return total;
}

// A torch-style zip around `pickle`, with one record "0" of six floats.
void write_checkpoint(const std::string& path, const std::string& pickle) {
  ZipWriter zip(path);
  const std::string root = std::filesystem::path(path).stem().string() + "/";
  zip.add(root + "data.pkl", pickle);
  zip.add(root + "byteorder", "little");
  zip.add(root + "data/0", std::string(24, '\0'));
  zip.add(root + "version", "3\n");
  zip.finish();
}

std::string memo_put(uint32_t index) { return PickleBuilder().op('r').u32(index).bytes(); }
std::string memo_get(uint32_t index) { return PickleBuilder().op('j').u32(index).bytes(); }
const std::vector<int64_t> six = {6};

// What a case built: the command's arguments, and the file or folder the bound is computed from.
struct Setup {
  std::vector<std::string> args;
  std::string files;
};

struct Case {
  const char* what;
  std::function<Setup(const TempDir&)> make;
  const char* expected;
};

std::vector<Case> cases() {
  return {
      {"a 1 MiB string referenced 1,500 times through the memo",
       [](const TempDir& dir) {
         PickleBuilder p;
         p.begin_state_dict().str("w").tensor("FloatStorage", "0", 6, 0, six, {1});
         p.str("plain").op(']').op('(').str(std::string(1 << 20, 's')).raw(memo_put(1));
         for (int i = 1; i < 1500; ++i) p.raw(memo_get(1));
         write_checkpoint(dir / "memo_string.pth", p.op('e').end_state_dict());
         return Setup{{"inspect", dir / "memo_string.pth"}, dir / "memo_string.pth"};
       },
       "expands to more than"},
      {"200 nested dicts keyed by one 1 MiB string",
       [](const TempDir& dir) {
         PickleBuilder p;
         p.proto().op('}').str(std::string(1 << 20, 'k')).raw(memo_put(1));
         for (int i = 1; i < 200; ++i) p.op('}').raw(memo_get(1));
         p.tensor("FloatStorage", "0", 6, 0, six, {1});
         for (int i = 0; i < 200; ++i) p.op('s');
         write_checkpoint(dir / "nested_keys.pth", p.op('.').bytes());
         return Setup{{"inspect", dir / "nested_keys.pth"}, dir / "nested_keys.pth"};
       },
       "expands to more than"},
      {"200 nested dicts keyed by one 64 KiB string",
       [](const TempDir& dir) {
         PickleBuilder p;
         p.proto().op('}').str(std::string(1 << 16, 'k')).raw(memo_put(1));
         for (int i = 1; i < 200; ++i) p.op('}').raw(memo_get(1));
         p.tensor("FloatStorage", "0", 6, 0, six, {1});
         for (int i = 0; i < 200; ++i) p.op('s');
         write_checkpoint(dir / "nested_keys.pth", p.op('.').bytes());
         return Setup{{"inspect", dir / "nested_keys.pth"}, dir / "nested_keys.pth"};
       },
       "a key path of 65536 bytes, more than the 1024 allowed"},
      {"one tensor referenced 1,000,000 times under a 1000-byte key",
       [](const TempDir& dir) {
         PickleBuilder p;
         p.proto().op('}').str(std::string(1000, 'k')).op(']');
         p.tensor("FloatStorage", "0", 6, 0, six, {1}).raw(memo_put(1)).op('a');
         for (int group = 0; group < 100; ++group) {
           p.op('(');
           for (int i = 0; i < 10000; ++i) p.raw(memo_get(1));
           p.op('e');
         }
         write_checkpoint(dir / "many_names.pth", p.op('s').op('.').bytes());
         return Setup{{"inspect", dir / "many_names.pth"}, dir / "many_names.pth"};
       },
       "names and descriptions would take more than"},
      {"a tensor named trf_blocks.1000000000000.norm1.scale in a valid model",
       [](const TempDir& dir) {
         const Checkpoint ckpt = Checkpoint::open(model);
         std::vector<std::pair<std::string, Tensor>> tensors;
         for (const TensorInfo& t : ckpt.state_dict()) tensors.emplace_back(t.name, ckpt.read(t));
         tensors.emplace_back("trf_blocks.1000000000000.norm1.scale", ckpt.read(ckpt.state_dict().at(2)));
         save_state_dict(dir / "forged_layer.pth", tensors);
         return Setup{{"forward", dir / "forged_layer.pth", "--heads", "4", "--tokens", "1", "-o", dir / "out.npy"},
                      dir / "forged_layer.pth"};
       },
       "no tensors for block 2 (trf_blocks.2.*), though 'trf_blocks.1000000000000.norm1.scale' names block "
       "1000000000000"},
      {"a safetensors header whose shape has 50 M entries",
       [](const TempDir& dir) {
         std::string header = R"({"a":{"dtype":"F32","shape":[)";
         header.reserve(header.size() + 100'000'010);
         for (int i = 0; i < 49'999'000; ++i) header += "1,";
         header += R"(1],"data_offsets":[0,4]}})";
         std::string bytes(8, '\0');
         for (int k = 0; k < 8; ++k) bytes[static_cast<std::size_t>(k)] = static_cast<char>((header.size() >> (8 * k)) & 0xff);
         write_bytes(dir / "shape.safetensors", bytes + header + std::string(4, '\0'));
         return Setup{{"inspect", dir / "shape.safetensors"}, dir / "shape.safetensors"};
       },
       "safetensors header: invalid JSON at byte"},
      {"a sparse 3 GiB config.json beside a model",
       [](const TempDir& dir) {
         std::filesystem::create_directories(dir.path / "sparse");
         std::filesystem::copy_file(model, dir.path / "sparse" / "model.pth");
         const int fd = ::open((dir / "sparse/config.json").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
         REQUIRE(fd >= 0);
         REQUIRE(::ftruncate(fd, off_t(3) << 30) == 0);
         ::close(fd);
         return Setup{{"forward", dir / "sparse/model.pth", "--tokens", "1", "-o", dir / "out.npy"}, dir / "sparse"};
       },
       "config.json: larger than the limit of 1048576 bytes"},
      {"a deflated data.pkl inflating to a 256 MiB list of 256 M items",
       [](const TempDir& dir) {
         std::string pickle = PickleBuilder().proto().op(']').op('(').bytes();
         pickle += std::string(std::size_t(256) << 20, '\x88');  // NEWTRUE
         pickle += "e.";
         write_deflated_zip(dir / "bomb.pth", {{"bomb/data.pkl", pickle}, {"bomb/version", "3\n"}});
         return Setup{{"inspect", dir / "bomb.pth"}, dir / "bomb.pth"};
       },
       "entry bomb/data.pkl: inflates to 268435462 bytes"},
  };
}

}  // namespace

TEST_CASE("hostile files: refused, in one line, with memory bounded by the file") {
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer keeps up to 256 MiB of freed memory in quarantine, which would count as
  // the child's; a small quarantine keeps the figures about pthrun.
  const char* options = std::getenv("ASAN_OPTIONS");
  ::setenv("ASAN_OPTIONS", str(options ? options : "", options ? ":" : "", "quarantine_size_mb=16").c_str(), 1);
#endif
  TempDir dir("hostile");
  // The program alone (its libraries: with the CUDA backend, most of it), for reference.
  const Measured alone = run_measured({"--help"}, dir);
  std::string table = "\n| case | file bytes | peak RSS | bound | seconds |\n|---|---|---|---|---|\n";
  table += str("| `pthrun --help`, for reference | - | ", format_bytes(static_cast<double>(alone.peak_rss)), " | - | ",
               alone.seconds, " |\n");
  for (Case& c : cases()) {
    CAPTURE(c.what);
    const Setup setup = c.make(dir);
    const uint64_t file_bytes = disk_bytes(setup.files);
    ::malloc_trim(0);  // the child starts as a copy of this process: make it small
    const Measured m = run_measured(setup.args, dir);
    CAPTURE(m.err);
    CHECK(m.status == 1);
    CHECK(m.err.rfind("error: ", 0) == 0);
    CHECK(m.err.find(c.expected) != std::string::npos);
    CHECK(std::count(m.err.begin(), m.err.end(), '\n') == 1);
    CHECK(m.err.size() < 1000);
    const uint64_t bound = std::max<uint64_t>(uint64_t(512) << 20, 64 * file_bytes);
    CHECK(m.peak_rss <= bound);
    table += str("| ", c.what, " | ", file_bytes, " | ", format_bytes(static_cast<double>(m.peak_rss)), " | ",
                 format_bytes(static_cast<double>(bound)), " | ", m.seconds, " |\n");
    for (const auto& entry : std::filesystem::directory_iterator(dir.path)) std::filesystem::remove_all(entry.path());
  }
  MESSAGE(table);
}
