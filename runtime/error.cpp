#include "runtime/error.h"

#include <cstdio>

#include "runtime/quote.h"

namespace pthrun {

namespace {

// A message names a few things and says what was expected and found: far below this. A line
// that reaches it was fed by a file, and is cut rather than flooding the terminal.
constexpr std::size_t kMaxMessageBytes = 8192;

}  // namespace

Error::Error(ErrorContext context, const std::string& message)
    : std::runtime_error(message), context_(std::move(context)), message_(message) {
  compose();
}

void Error::add_context(const ErrorContext& context) {
  if (context_.file.empty()) {
    context_.file = context.file;
    if (context_.entry.empty()) context_.entry = context.entry;
  } else if (context_.entry.empty() && context_.file == context.file) {
    context_.entry = context.entry;
  } else {
    return;
  }
  compose();
}

void Error::compose() {
  std::string text;
  if (!context_.file.empty()) text = context_.file + ": ";
  if (!context_.entry.empty()) text += context_.entry + ": ";
  text += message_;
  text_ = printable(text, kMaxMessageBytes);
}

std::string format_bytes(double bytes) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  double value = bytes < 0 ? -bytes : bytes;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  char text[48];
  if (unit == 0)
    std::snprintf(text, sizeof text, "%s%.0f B", bytes < 0 ? "-" : "", value);
  else
    std::snprintf(text, sizeof text, "%s%.2f %s", bytes < 0 ? "-" : "", value, units[unit]);
  return text;
}

}  // namespace pthrun
