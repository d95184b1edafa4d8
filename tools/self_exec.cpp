#include "tools/self_exec.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "runtime/error.h"
#include "runtime/file_util.h"

namespace pthrun::cli {

namespace fs = std::filesystem;

std::string shell_quote(std::string_view arg) {
  std::string quoted = "'";
  for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string run_self(const std::string& args, bool show_stderr) {
  static int runs = 0;
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const fs::path err = fs::temp_directory_path() / str("pthrun-child-", ::getpid(), "-", runs++, ".err");
  const std::string redirect = show_stderr ? "" : " 2>" + shell_quote(err.string());
  FILE* pipe = ::popen((shell_quote(self) + " " + args + redirect).c_str(), "r");
  PTHRUN_CHECK(pipe, "cannot start ", self);
  std::string out;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  const int status = ::pclose(pipe);
  std::string message = fs::exists(err) ? read_file(err.string()) : "";
  fs::remove(err);
  if (status != 0) {
    while (!message.empty() && message.back() == '\n') message.pop_back();
    throw Error(str("pthrun ", args, " failed", message.empty() ? "" : ": ", message.substr(message.rfind('\n') + 1)));
  }
  return out;
}

}  // namespace pthrun::cli
