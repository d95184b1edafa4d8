#include "runtime/quote.h"

#include <algorithm>
#include <cstdio>

#include "runtime/utf8.h"

namespace pthrun {

namespace {

void append_hex(std::string& out, const char* format, unsigned value) {
  char text[12];
  std::snprintf(text, sizeof text, format, value);
  out += text;
}

// Appends the escaped form of text's first max_bytes bytes (whole characters only); returns
// the number of input bytes consumed.
std::size_t escape_into(std::string& out, std::string_view text, std::size_t max_bytes, bool quoting) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto c = static_cast<unsigned char>(text[pos]);
    const std::size_t n = c < 0x80 ? 1 : utf8_sequence_length(text.substr(pos));
    if (pos + (n ? n : 1) > max_bytes) break;
    if (c < 0x20 || c == 0x7f) {
      static const char names[] = "abtnvfr";  // \a (7) to \r (13)
      if (c >= 7 && c <= 13) out += {'\\', names[c - 7]};
      else append_hex(out, "\\x%02x", c);
    } else if (c < 0x80) {
      if (quoting && (c == '\\' || c == '\'')) out += '\\';
      out += static_cast<char>(c);
    } else if (n == 0) {
      append_hex(out, "\\x%02x", c);
    } else if (const char32_t cp = decode_utf8(text.substr(pos), n); is_invisible_control(cp)) {
      append_hex(out, "\\u%04x", static_cast<unsigned>(cp));
    } else {
      out.append(text.substr(pos, n));
    }
    pos += n ? n : 1;
  }
  return pos;
}

}  // namespace

std::string printable(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 8);
  if (escape_into(out, text, max_bytes, false) < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

std::string in_quotes(std::string_view text, std::size_t max_bytes) {
  std::string out = "'";
  out.reserve(std::min(text.size(), max_bytes) + 8);
  const bool cut = escape_into(out, text, max_bytes, true) < text.size();
  out += '\'';
  if (cut) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

}  // namespace pthrun
