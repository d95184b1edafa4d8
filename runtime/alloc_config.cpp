#include "runtime/alloc_config.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "runtime/error.h"

namespace pthrun {

namespace {

double parse_number(std::string_view text, std::string_view what) {
  std::string copy(text);
  char* end = nullptr;
  double value = std::strtod(copy.c_str(), &end);
  PTHRUN_CHECK(!copy.empty() && end == copy.c_str() + copy.size() && std::isfinite(value) && value >= 0,
               what, ": expected a non-negative number, got '", text, "'");
  return value;
}

bool parse_flag(std::string_view text, std::string_view key) {
  if (text == "1" || text == "true" || text == "on") return true;
  if (text == "0" || text == "false" || text == "off") return false;
  throw Error(str("PTHRUN_ALLOC_CONF key ", key, ": expected 0 or 1, got '", text, "'"));
}

}  // namespace

std::size_t parse_byte_size(std::string_view text) {
  struct Unit {
    std::string_view suffix;
    double scale;
  };
  static const Unit units[] = {{"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0},
                               {"TiB", 1099511627776.0}, {"KB", 1e3}, {"MB", 1e6},
                               {"GB", 1e9}, {"TB", 1e12}, {"B", 1}};
  double scale = 1;
  std::string_view number = text;
  for (const Unit& unit : units) {
    if (text.ends_with(unit.suffix)) {
      scale = unit.scale;
      number = text.substr(0, text.size() - unit.suffix.size());
      break;
    }
  }
  double bytes = parse_number(number, str("byte size '", text, "'")) * scale;
  PTHRUN_CHECK(bytes < 1.8e19, "byte size '", text, "' is too large");
  return static_cast<std::size_t>(bytes);
}

AllocatorConfig AllocatorConfig::parse(std::string_view text) {
  AllocatorConfig config;
  while (!text.empty()) {
    std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (item.empty()) continue;
    std::size_t colon = item.find(':');
    PTHRUN_CHECK(colon != std::string_view::npos, "PTHRUN_ALLOC_CONF: expected key:value, got '",
                 item, "'");
    std::string_view key = item.substr(0, colon), value = item.substr(colon + 1);
    if (key == "mode") {
      if (value == "caching") config.mode = AllocatorMode::caching;
      else if (value == "nocache") config.mode = AllocatorMode::nocache;
      else if (value == "async") config.mode = AllocatorMode::async;
      else throw Error(str("PTHRUN_ALLOC_CONF mode: expected caching, nocache or async, got '", value, "'"));
    } else if (key == "cap") {
      config.cap_bytes = parse_byte_size(value);
    } else if (key == "cap_fraction") {
      config.cap_fraction = parse_number(value, "PTHRUN_ALLOC_CONF cap_fraction");
      PTHRUN_CHECK(config.cap_fraction > 0 && config.cap_fraction <= 1,
                   "PTHRUN_ALLOC_CONF cap_fraction: expected a fraction in (0, 1], got ", value);
    } else if (key == "max_split_size_mb") {
      // Bounded before converting: a double beyond size_t's range has no size_t value, and
      // the conversion gave 0 in practice (every block unsplittable) rather than an error.
      constexpr std::size_t max_mb = SIZE_MAX / 1048576;
      double mb = parse_number(value, "PTHRUN_ALLOC_CONF max_split_size_mb");
      PTHRUN_CHECK(mb >= 1 && mb <= static_cast<double>(max_mb),
                   "PTHRUN_ALLOC_CONF max_split_size_mb: expected 1 to ", max_mb, ", got ", value);
      config.max_split_size = static_cast<std::size_t>(mb * 1048576.0);
    } else if (key == "trace") {
      config.trace = parse_flag(value, key);
    } else if (key == "trace_entries") {
      double n = parse_number(value, "PTHRUN_ALLOC_CONF trace_entries");
      PTHRUN_CHECK(n >= 1 && n <= 1e8, "PTHRUN_ALLOC_CONF trace_entries: expected 1 to 100000000, got ",
                   value);
      config.trace_entries = static_cast<std::size_t>(n);
    } else if (key == "timing") {
      config.timing = parse_flag(value, key);
    } else {
      throw Error(str("PTHRUN_ALLOC_CONF: unknown key '", key,
                      "' (known: mode, cap, cap_fraction, max_split_size_mb, trace, trace_entries, timing)"));
    }
  }
  return config;
}

AllocatorConfig AllocatorConfig::from_env() {
  const char* text = std::getenv("PTHRUN_ALLOC_CONF");
  return text ? parse(text) : AllocatorConfig{};
}

std::string AllocatorConfig::to_string() const {
  std::string out = mode == AllocatorMode::caching   ? "mode:caching"
                    : mode == AllocatorMode::nocache ? "mode:nocache"
                                                     : "mode:async";
  if (cap_bytes) out += str(",cap:", cap_bytes);
  if (cap_fraction > 0) out += str(",cap_fraction:", cap_fraction);
  if (max_split_size != SIZE_MAX) out += str(",max_split_size_mb:", max_split_size / 1048576);
  if (trace) out += str(",trace:1,trace_entries:", trace_entries);
  if (timing) out += ",timing:1";
  return out;
}

}  // namespace pthrun
