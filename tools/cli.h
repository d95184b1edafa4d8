// The command-line framework: each subcommand is a CommandSpec (its options, help and run
// function) in a file of its own; main.cpp lists them.
//
//   extern const CommandSpec inspect_command = {
//       "inspect", "List the tensors of a checkpoint", "CKPT",
//       {{"key", 0, "K", "navigate into this entry of a checkpoint dict"},
//        {"json", 0, nullptr, "print JSON instead of a table"}},
//       run_inspect};
//
// Syntax errors (unknown option, missing value, malformed number) throw UsageError: exit
// status 2. Anything else pthrun throws exits with status 1. Both print one line starting
// with "error:".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pthrun::cli {

struct OptionSpec {
  const char* name;        // long name without "--"
  char short_name;         // 0 when none
  const char* value_name;  // nullptr for a flag without value
  const char* help;
};

class ParsedArgs;

struct CommandSpec {
  const char* name;
  const char* summary;
  const char* synopsis;  // positional arguments, e.g. "CKPT NAME"
  std::vector<OptionSpec> options;
  int (*run)(const ParsedArgs& args);
  const char* details = nullptr;  // extra help text
};

class ParsedArgs {
 public:
  const std::vector<std::string>& positional() const { return positional_; }
  // The i-th positional argument; UsageError naming `what` when absent.
  const std::string& positional(std::size_t i, const char* what) const;
  // UsageError when more than `n` positional arguments were given.
  void max_positional(std::size_t n) const;

  bool has(std::string_view name) const;
  std::optional<std::string> get(std::string_view name) const;  // the last occurrence
  std::vector<std::string> get_all(std::string_view name) const;  // every occurrence, in order
  std::string get_or(std::string_view name, std::string_view fallback) const;
  // Numbers are checked against [min, max]; UsageError otherwise.
  int64_t get_int(std::string_view name, int64_t fallback, int64_t min, int64_t max) const;
  double get_double(std::string_view name, double fallback, double min, double max) const;
  // "5,17,3" -> {5, 17, 3}
  std::vector<int64_t> get_int_list(std::string_view name) const;

 private:
  friend ParsedArgs parse_args(const CommandSpec& spec, const std::vector<std::string>& args);
  std::vector<std::string> positional_;
  std::vector<std::pair<std::string, std::string>> options_;  // name -> value ("" for flags)
  const CommandSpec* spec_ = nullptr;
};

// Throws UsageError for unknown options and options missing their value.
ParsedArgs parse_args(const CommandSpec& spec, const std::vector<std::string>& args);
std::vector<int64_t> parse_int_list(std::string_view text, std::string_view what);
std::string command_help(const CommandSpec& spec);

}  // namespace pthrun::cli
