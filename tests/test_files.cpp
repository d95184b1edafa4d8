#include <doctest/doctest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "runtime/file_util.h"
#include "runtime/host_memory.h"

using namespace pthrun;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
  fs::path dir = fs::temp_directory_path() / ("pthrun-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

}  // namespace

TEST_CASE("an output file appears only when committed") {
  const fs::path dir = temp_dir();
  const std::string path = (dir / "out.bin").string();
  {
    OutputFile out(path);
    out.write("partial");
    CHECK_FALSE(fs::exists(path));
  }  // dropped without commit: nothing is left behind
  CHECK_FALSE(fs::exists(path));
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 0);

  OutputFile out(path);
  out.write("hello ");
  out.skip(3);
  out.write("world");
  CHECK(out.position() == 14);
  out.commit();
  CHECK(read_file(path) == std::string("hello \0\0\0world", 14));
  CHECK_THROWS_WITH(out.write("x"), doctest::Contains("already committed"));

  write_file_atomically(path, "replaced");
  CHECK(read_file(path) == "replaced");
  fs::remove_all(dir);
}

TEST_CASE("file errors name the file and the reason") {
  CHECK_THROWS_WITH(read_file("/nonexistent/file.pth"),
                    "/nonexistent/file.pth: cannot open: No such file or directory");
  CHECK_THROWS_WITH(OutputFile("/nonexistent/dir/out.npy"),
                    "cannot create /nonexistent/dir/out.npy: No such file or directory");
}

TEST_CASE("a write that the system refuses names the file and leaves nothing behind") {
  // RLIMIT_FSIZE stands in for a full disk: the write fails part-way, as it would there.
  const fs::path dir = temp_dir();
  const std::string path = (dir / "big.bin").string();
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
  rlimit small = saved;
  small.rlim_cur = 1 << 20;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  {
    OutputFile out(path);
    CHECK_THROWS_WITH(out.write(std::string(2 << 20, 'x')),
                      ("cannot write " + path + ": File too large").c_str());
  }
  REQUIRE(setrlimit(RLIMIT_FSIZE, &saved) == 0);
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 0);
  fs::remove_all(dir);
}

TEST_CASE("host memory probes see anonymous memory") {
  const HostMemory before = host_memory();
  CHECK(before.rss > 0);
  CHECK(before.anon_rss > 0);
  CHECK(before.peak_rss >= before.rss);
  HostMemorySampler sampler;
  const std::size_t grown = before.anon_rss + (60 << 20);
  {
    std::vector<char> block(64 << 20, 1);  // touched, so resident
    CHECK(host_memory().anon_rss >= grown);
    // The sampler's thread wakes every millisecond, but a busy machine (ctest -j, CI) may not run
    // it while the block lives: wait for it, boundedly, before letting the block go.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (sampler.peak().anon_rss < grown && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CHECK(sampler.peak().anon_rss >= grown);
}
