// The command-line framework, on CLI11: each subcommand is a Command in a file of its own that
// declares its options on a CLI::App, each bound to a typed variable, and returns the function
// that runs it; tools/commands.cpp lists them.
//
//   struct InspectArgs { std::string checkpoint; bool json = false; };
//   extern const Command inspect_command = {
//       "inspect", "List the tensors of a checkpoint", [](CLI::App& app) {
//         auto args = std::make_shared<InspectArgs>();
//         app.add_option("CKPT", args->checkpoint, "the checkpoint")->required();
//         app.add_flag("--json", args->json, "print JSON instead of a table");
//         return [args] { return run_inspect(*args); };
//       }};
//
// Conventions: the last occurrence of an option wins (options meant to repeat collect every
// occurrence); numbers are checked by integer_in / number_in while parsing. Syntax errors
// (unknown option, missing value, malformed or out-of-range number) throw UsageError: exit
// status 2. Anything else pthrun throws exits with status 1. Both print one line starting with
// "error:".
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pthrun::cli {

using RunFunction = std::function<int()>;

struct Command {
  const char* name;
  const char* summary;
  // Declares the options on `app`; the returned function runs the command with their values.
  std::function<RunFunction(CLI::App& app)> define;
  const char* details = nullptr;  // extra help text
};

// Parses `args` (without the program and command names) for `command`; throws UsageError with
// one line for any syntax error. The result runs the command.
RunFunction parse_command(const Command& command, const std::vector<std::string>& args);
// `pthrun COMMAND --help`.
std::string command_help(const Command& command);

// Validators that check while parsing, with pthrun's messages: "expected an integer from 1 to
// 1024, got 'x'".
CLI::Validator integer_in(int64_t min, int64_t max);
CLI::Validator number_in(double min, double max);
// One of `choices`: "expected book or hf, got 'x'".
CLI::Validator one_of(std::vector<std::string> choices);

// "5,17,3" -> {5, 17, 3}; UsageError naming `what` otherwise.
std::vector<int64_t> parse_int_list(std::string_view text, std::string_view what);

}  // namespace pthrun::cli
