// Running the built `pthrun` as a user runs it, for CLI tests: its exit status, stdout and
// stderr; and temporary folders that clean up after themselves.
//
//   CliResult r = run_pthrun("generate " + quote(path) + " --tokens 1,2 -n 3");
//   CHECK(r.status == 0);
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/utf8.h"

namespace pthrun::test {

namespace fs = std::filesystem;

struct CliResult {
  int status;
  std::string out, err;
};

// Single-quotes a shell argument.
inline std::string quote(std::string_view arg) {
  std::string quoted = "'";
  for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// Runs `PROGRAM ARGS` through the shell (ARGS quoted by the caller), `env` prefixed to it
// (e.g. "PTHRUN_ALLOC_CONF=cap:1MiB"), with `stdin_path` on its standard input.
inline CliResult run_program(const std::string& program, const std::string& args, const std::string& env = "",
                             const std::string& stdin_path = "/dev/null") {
  static int runs = 0;
  const fs::path dir = fs::temp_directory_path() / str("pthrun-cli-", ::getpid(), "-", runs++);
  fs::create_directories(dir);
  const std::string out_path = (dir / "stdout").string(), err_path = (dir / "stderr").string();
  const std::string command = env + (env.empty() ? "" : " ") + quote(program) + " " + args + " <" +
                              quote(stdin_path) + " >" + quote(out_path) + " 2>" + quote(err_path);
  const int status = std::system(command.c_str());
  CliResult r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(out_path), read_file(err_path)};
  fs::remove_all(dir);
  return r;
}

// The same for the pthrun of this build.
inline CliResult run_pthrun(const std::string& args, const std::string& env = "",
                            const std::string& stdin_path = "/dev/null") {
  return run_program(PTHRUN_BINARY_DIR "/pthrun", args, env, stdin_path);
}

// Text a terminal can show as it is: valid UTF-8, no control character but newlines, no
// invisible layout controls (C1, bidirectional overrides). Everything pthrun prints must be.
inline bool is_clean_output(std::string_view text) {
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t n = utf8_sequence_length(text.substr(pos));
    if (n == 0) return false;
    const char32_t cp = decode_utf8(text.substr(pos), n);
    if ((cp < 0x20 && cp != '\n') || cp == 0x7f || is_invisible_control(cp)) return false;
    pos += n;
  }
  return true;
}

// The Pythons with torch found at configure time (PTHRUN_TORCH_PYTHONS), for tests that have
// PyTorch read what pthrun wrote; the environment variable of that name, ':'-separated,
// replaces them on a machine other than the one that configured the build (a GPU machine
// running a carried build).
inline std::vector<std::string> torch_pythons() {
  std::vector<std::string> out;
  const char* env = std::getenv("PTHRUN_TORCH_PYTHONS");
  std::stringstream list(env ? env : PTHRUN_TORCH_PYTHONS);
  for (std::string item; std::getline(list, item, ':');)
    if (!item.empty()) out.push_back(item);
  return out;
}

// A fresh folder, removed with everything in it when the object goes.
struct TempDir {
  fs::path path;
  explicit TempDir(std::string_view what = "test") {
    static int made = 0;
    path = fs::temp_directory_path() / str("pthrun-", what, "-", ::getpid(), "-", made++);
    fs::create_directories(path);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

}  // namespace pthrun::test
