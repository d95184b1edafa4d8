#include "tools/commands.h"

namespace pthrun::cli {

// Each is defined in its tools/cmd_*.cpp.
extern const Command alloc_bench_command;
extern const Command alloc_compare_command;
extern const Command alloc_report_command;
extern const Command bench_command;
extern const Command convert_command;
extern const Command demo_command;
extern const Command dump_command;
extern const Command forward_command;
extern const Command generate_command;
extern const Command info_command;
extern const Command init_command;
extern const Command inspect_command;
extern const Command kernel_bench_command;
extern const Command load_bench_command;
extern const Command perplexity_command;
extern const Command serve_command;
extern const Command stream_bench_command;
extern const Command tokenize_bench_command;
extern const Command tokenize_command;
extern const Command verify_command;

std::span<const Command* const> all_commands() {
  static const Command* const commands[] = {
      &demo_command,
      &generate_command,
      &serve_command,
      &forward_command,
      &bench_command,
      &perplexity_command,
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
