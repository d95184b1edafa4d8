// Ctrl-C. The first SIGINT asks long-running work to stop at its next check_interrupt(),
// which throws Interrupted: the stack unwinds, so temporary output files are removed and
// memory goes back, and the CLI exits with status 130. A second SIGINT ends the process at
// once, for work that never reaches a check.
//
//   install_interrupt_handler();               // once, in main()
//   for (...) { check_interrupt(); step(); }   // in every long loop
#pragma once

#include "runtime/error.h"

namespace pthrun {

class Interrupted : public Error {
 public:
  Interrupted() : Error("interrupted") {}
};

void install_interrupt_handler();
bool interrupt_requested();
// Throws Interrupted once Ctrl-C has been pressed.
void check_interrupt();

}  // namespace pthrun
