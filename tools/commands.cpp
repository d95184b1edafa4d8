#include "tools/commands.h"

namespace pthrun::cli {

// Each is defined in its tools/cmd_*.cpp.
extern const CommandSpec alloc_bench_command;
extern const CommandSpec alloc_compare_command;
extern const CommandSpec alloc_report_command;
extern const CommandSpec bench_command;
extern const CommandSpec convert_command;
extern const CommandSpec demo_command;
extern const CommandSpec dump_command;
extern const CommandSpec forward_command;
extern const CommandSpec generate_command;
extern const CommandSpec info_command;
extern const CommandSpec init_command;
extern const CommandSpec inspect_command;
extern const CommandSpec kernel_bench_command;
extern const CommandSpec load_bench_command;
extern const CommandSpec stream_bench_command;
extern const CommandSpec tokenize_bench_command;
extern const CommandSpec tokenize_command;
extern const CommandSpec verify_command;

std::span<const CommandSpec* const> all_commands() {
  static const CommandSpec* const commands[] = {
      &demo_command,
      &generate_command,
      &forward_command,
      &bench_command,
      &init_command,
      &convert_command,
      &inspect_command,
      &dump_command,
      &verify_command,
      &tokenize_command,
      &tokenize_bench_command,
      &load_bench_command,
      &stream_bench_command,
      &alloc_report_command,
      &alloc_compare_command,
      &alloc_bench_command,
      &kernel_bench_command,
      &info_command,
  };
  return commands;
}

}  // namespace pthrun::cli
