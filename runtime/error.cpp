#include "runtime/error.h"

#include <cstdio>

namespace pthrun {

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
