// libFuzzer target: the command-line framework against the real command table.
//
// Input: the first byte picks a command (tools/commands.h); the rest, split at NUL bytes as
// argv is, are its arguments. They go through parse_command, which declares the command's
// CLI11 options, parses and validates every value (numbers, ranges, choices, devices, dtypes)
// without running the command; each argument also goes through the value parsers commands use
// later (integer lists, devices, dtypes, byte sizes, allocator settings). Each call may fail
// only with the exception its header promises (UsageError for syntax, pthrun::Error for
// values); any other exception, a sanitizer report or a broken round trip is a finding. No
// command runs: nothing here touches a file.
// Built and run by tools/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/alloc_config.h"
#include "runtime/device.h"
#include "runtime/dtype.h"
#include "runtime/error.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace {

using namespace pthrun;
using namespace pthrun::cli;

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "fuzz_cli_args: %s\n", message.c_str());
  std::abort();
}

// Whether f threw Expected (or a type derived from it), an accepted answer; any other
// exception propagates to libFuzzer as a crash.
template <typename Expected, typename F>
bool throws(F&& f) {
  try {
    f();
  } catch (const Expected&) {
    return true;
  }
  return false;
}

template <typename Expected, typename F>
void attempt(F&& f) {
  (void)throws<Expected>(f);
}

std::vector<std::string> split_args(const uint8_t* data, std::size_t size) {
  std::vector<std::string> args;
  if (size == 0) return args;
  std::string current;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      args.push_back(std::move(current));
      current.clear();
    } else {
      current += static_cast<char>(data[i]);
    }
  }
  args.push_back(std::move(current));
  return args;
}

// Every way a command reads one option's value (see tools/cmd_*.cpp and model_options.cpp).
void read_value(const std::string& value) {
  attempt<UsageError>([&] { (void)parse_int_list(value, "fuzz"); });
  attempt<Error>([&] {
    const Device device = parse_device(value);
    if (parse_device(device.to_string()) != device) fail(str("device '", value, "' does not round-trip"));
  });
  if (const auto dtype = parse_dtype(value); dtype && parse_dtype(dtype_name(*dtype)) != dtype)
    fail(str("dtype '", value, "' does not round-trip"));
  attempt<Error>([&] { (void)parse_byte_size(value); });
  attempt<Error>([&] { (void)AllocatorConfig::parse(value).to_string(); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto commands = all_commands();
  const Command& command = *commands[data[0] % commands.size()];
  const std::vector<std::string> args = split_args(data + 1, size - 1);
  (void)command_help(command);
  for (const std::string& arg : args) read_value(arg);
  attempt<UsageError>([&] { (void)parse_command(command, args); });
  return 0;
}
