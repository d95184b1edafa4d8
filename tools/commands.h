// The command table: every pthrun subcommand, in the order `pthrun --help` lists them.
//
//   for (const Command* command : all_commands()) std::puts(command->name);
//
// Kept apart from main.cpp so that code other than the executable (the CLI fuzzer,
// tests/fuzz/fuzz_cli_args.cpp) parses arguments against the real specs.
#pragma once

#include <span>

#include "tools/cli.h"

namespace pthrun::cli {

std::span<const Command* const> all_commands();

}  // namespace pthrun::cli
