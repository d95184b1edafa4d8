// pthrun: the one executable. `pthrun COMMAND --help` describes each command.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "runtime/alloc_config.h"
#include "runtime/allocator.h"
#include "runtime/error.h"
#include "runtime/interrupt.h"
#include "runtime/quote.h"
#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/model_options.h"

namespace {

using pthrun::cli::all_commands;
using pthrun::cli::Command;

void print_overview() {
  std::printf("usage: pthrun COMMAND [options]\n\n"
              "Runs GPT-2 straight from PyTorch .pth checkpoints, without Python.\n\ncommands:\n");
  for (const Command* command : all_commands()) std::printf("  %-15s %s\n", command->name, command->summary);
  std::printf("\n'pthrun COMMAND --help' describes a command.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    print_overview();
    return argc < 2 ? 2 : 0;
  }
  const Command* command = nullptr;
  for (const Command* c : all_commands())
    if (std::string(c->name) == argv[1]) command = c;
  if (!command) {
    std::fprintf(stderr, "error: unknown command %s (see 'pthrun --help')\n", pthrun::in_quotes(argv[1]).c_str());
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
    // The environment is read here, once: the runtime takes its settings as arguments.
    pthrun::configure_allocators(pthrun::AllocatorConfig::from_env());
    const int status = pthrun::cli::parse_command(*command, args)();
    if (status == 0) pthrun::cli::print_notes();  // a failure says one line: its error
    return status;
  } catch (const pthrun::Interrupted&) {
    std::fprintf(stderr, "interrupted\n");
    return 130;
  } catch (const pthrun::UsageError& e) {
    std::fprintf(stderr, "error: %s (see 'pthrun %s --help')\n", e.what(), command->name);
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of host memory\n");
  } catch (const std::exception& e) {
    // pthrun::Error's text is clean already; others (std::filesystem's) may quote raw paths.
    std::fprintf(stderr, "error: %s\n", pthrun::printable(e.what(), 8192).c_str());
  }
  return 1;
}
