// pthrun: the one executable. `pthrun COMMAND --help` describes each command.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "runtime/error.h"
#include "runtime/interrupt.h"
#include "tools/cli.h"

namespace pthrun::cli {
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
}  // namespace pthrun::cli

namespace {

using pthrun::cli::CommandSpec;

const CommandSpec* const commands[] = {
    &pthrun::cli::demo_command,
    &pthrun::cli::generate_command,
    &pthrun::cli::forward_command,
    &pthrun::cli::bench_command,
    &pthrun::cli::init_command,
    &pthrun::cli::convert_command,
    &pthrun::cli::inspect_command,
    &pthrun::cli::dump_command,
    &pthrun::cli::tokenize_command,
    &pthrun::cli::tokenize_bench_command,
    &pthrun::cli::load_bench_command,
    &pthrun::cli::stream_bench_command,
    &pthrun::cli::alloc_report_command,
    &pthrun::cli::alloc_compare_command,
    &pthrun::cli::alloc_bench_command,
    &pthrun::cli::kernel_bench_command,
    &pthrun::cli::info_command,
};

void print_overview() {
  std::printf("usage: pthrun COMMAND [options]\n\n"
              "Runs GPT-2 straight from PyTorch .pth checkpoints, without Python.\n\ncommands:\n");
  for (const CommandSpec* command : commands) std::printf("  %-15s %s\n", command->name, command->summary);
  std::printf("\n'pthrun COMMAND --help' describes a command.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    print_overview();
    return argc < 2 ? 2 : 0;
  }
  const CommandSpec* command = nullptr;
  for (const CommandSpec* c : commands)
    if (std::string(c->name) == argv[1]) command = c;
  if (!command) {
    std::fprintf(stderr, "error: unknown command '%s' (see 'pthrun --help')\n", argv[1]);
    return 2;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const std::string& arg : args) {
    if (arg == "--") break;
    if (arg == "--help" || arg == "-h") {
      std::fputs(pthrun::cli::command_help(*command).c_str(), stdout);
      return 0;
    }
  }
  pthrun::install_interrupt_handler();
  // Past a file-size limit a write should fail with EFBIG and a message, not kill us.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    return command->run(pthrun::cli::parse_args(*command, args));
  } catch (const pthrun::Interrupted&) {
    std::fprintf(stderr, "interrupted\n");
    return 130;
  } catch (const pthrun::UsageError& e) {
    std::fprintf(stderr, "error: %s (see 'pthrun %s --help')\n", e.what(), command->name);
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of host memory\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  }
  return 1;
}
