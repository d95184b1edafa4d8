// What every loader fuzz target asserts besides "no crash": any message pthrun would print is
// one clean line (valid UTF-8, no control characters, bounded), and any JSON it writes parses
// back. A violation aborts, which libFuzzer reports as a crash with the input that caused it.
#pragma once

#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "runtime/error.h"
#include "runtime/json.h"
#include "runtime/utf8.h"

namespace pthrun::fuzz {

inline void require_clean_line(std::string_view text) {
  bool clean = text.size() <= 9000;
  for (std::size_t pos = 0; clean && pos < text.size();) {
    const std::size_t n = utf8_sequence_length(text.substr(pos));
    const char32_t cp = n ? decode_utf8(text.substr(pos), n) : 0;
    clean = n != 0 && cp >= 0x20 && cp != 0x7f && !is_invisible_control(cp);
    pos += n;
  }
  if (!clean) {
    std::fprintf(stderr, "not one clean line (%zu bytes): %.*s\n", text.size(), static_cast<int>(std::min<std::size_t>(text.size(), 300)), text.data());
    std::abort();
  }
}

inline void require_valid_json(const std::string& text) {
  try {
    (void)parse_json(text);
  } catch (const Error& e) {
    std::fprintf(stderr, "JsonWriter wrote JSON that does not parse: %s\n", e.what());
    std::abort();
  }
}

}  // namespace pthrun::fuzz
