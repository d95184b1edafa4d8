#include "runtime/interrupt.h"

#include <atomic>
#include <csignal>

namespace pthrun {

namespace {

std::atomic<bool> requested{false};

void on_sigint(int) {
  if (requested.exchange(true)) {
    std::signal(SIGINT, SIG_DFL);  // the second Ctrl-C: stop now
    std::raise(SIGINT);
  }
}

}  // namespace

void install_interrupt_handler() { std::signal(SIGINT, on_sigint); }

bool interrupt_requested() { return requested.load(std::memory_order_relaxed); }

void check_interrupt() {
  if (interrupt_requested()) throw Interrupted();
}

}  // namespace pthrun
