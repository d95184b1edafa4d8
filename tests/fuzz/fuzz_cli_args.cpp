// libFuzzer target: the command-line framework against the real command table.
//
// Input: the first byte picks a command (tools/commands.h); the rest, split at NUL bytes as
// argv is, are its arguments. They go through parse_args and then through every typed reading
// a command makes of them: get_int and get_double with the ranges commands use, integer lists,
// devices, dtypes, byte sizes, allocator settings, positional counts, model_options. Each call
// may fail only with the exception its header promises (UsageError for syntax, pthrun::Error
// for values); any other exception, a sanitizer report or a broken round trip is a finding.
// The commands themselves never run: nothing here touches a file.
// Built and run by tools/fuzz.sh.
#include <cfloat>
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
#include "tools/model_options.h"

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

template <typename T>
void check_range(const OptionSpec& option, T value, T min, T max) {
  if (!(value >= min && value <= max)) fail(str("--", option.name, " gave ", value, " outside [", min, ", ", max, "]"));
}

void read_option(const ParsedArgs& args, const OptionSpec& option) {
  const bool present = args.has(option.name);
  const std::vector<std::string> all = args.get_all(option.name);
  if (present != !all.empty() || (present && args.get(option.name) != all.back()))
    fail(str("has, get and get_all disagree on --", option.name));
  if (!option.value_name) return;
  for (const std::string& value : all) read_value(value);

  // The ranges commands ask for (cmd_generate.cpp, cmd_tokenize_bench.cpp, ...) and the widest.
  const std::pair<int64_t, int64_t> int_ranges[] = {{INT64_MIN, INT64_MAX}, {0, INT64_MAX}, {1, 1 << 20}};
  for (const auto& range : int_ranges)
    attempt<UsageError>([&] {
      check_range(option, args.get_int(option.name, range.first, range.first, range.second), range.first, range.second);
    });
  const std::pair<double, double> double_ranges[] = {{-DBL_MAX, DBL_MAX}, {0, 1}, {0.001, 1024}};
  for (const auto& range : double_ranges)
    attempt<UsageError>([&] {
      check_range(option, args.get_double(option.name, range.first, range.first, range.second), range.first,
                  range.second);
    });
  attempt<UsageError>([&] { (void)args.get_int_list(option.name); });
  (void)args.get_or(option.name, "");
}

void read_args(const CommandSpec& spec, const ParsedArgs& args) {
  const std::size_t count = args.positional().size();
  for (std::size_t i = 0; i < 3; ++i) {
    if (throws<UsageError>([&] { (void)args.positional(i, "ARG"); }) != (i >= count))
      fail(str("positional(", i, ") with ", count, " arguments"));
    if (throws<UsageError>([&] { args.max_positional(i); }) != (count > i))
      fail(str("max_positional(", i, ") with ", count, " arguments"));
  }
  bool model_command = false;
  for (const OptionSpec& option : spec.options) {
    read_option(args, option);
    model_command |= std::string_view(option.name) == "heads";
  }
  // The model commands read --device, --dtype, --heads and --key in one function.
  if (model_command) attempt<Error>([&] { (void)model_options(args); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto commands = all_commands();
  const CommandSpec& spec = *commands[data[0] % commands.size()];
  const std::vector<std::string> args = split_args(data + 1, size - 1);
  (void)command_help(spec);
  std::optional<ParsedArgs> parsed;
  try {
    parsed = parse_args(spec, args);
  } catch (const UsageError&) {
    return 0;
  }
  read_args(spec, *parsed);
  return 0;
}
