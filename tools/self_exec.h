// Running this same pthrun executable as a child process: load-bench measures each strategy in
// a fresh process, and demo runs init and load-bench that way.
#pragma once

#include <string>
#include <string_view>

namespace pthrun::cli {

// Single-quotes an argument for the shell.
std::string shell_quote(std::string_view arg);

// Runs `pthrun ARGS` (ARGS already quoted) and returns its standard output; stderr goes to
// ours when `show_stderr`, else it is kept for the error message. Throws pthrun::Error with the
// child's last error line when it fails.
std::string run_self(const std::string& args, bool show_stderr = false);

}  // namespace pthrun::cli
