// JsonWriter: the CLI's --json output and the allocator's traces. Every string goes through
// json_quote, so the output is valid UTF-8 JSON whatever bytes a tensor name holds.
#include <charconv>
#include <cmath>
#include <cstdio>

#include "runtime/json.h"
#include "runtime/utf8.h"

namespace pthrun {

namespace {

void append_escape(std::string& out, char32_t cp) {
  char escape[8];
  std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(cp));
  out += escape;
}

}  // namespace

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  out.reserve(text.size() + 2);
  for (std::size_t pos = 0; pos < text.size();) {
    const auto c = static_cast<unsigned char>(text[pos]);
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence_length(text.substr(pos));
      // A byte that is not UTF-8 has no JSON spelling: U+FFFD, as a decoder with
      // errors="replace" shows it.
      // Invisible controls are escaped like C0 controls: exact, and harmless on a terminal.
      if (n == 0) out += "\xef\xbf\xbd";
      else if (const char32_t cp = decode_utf8(text.substr(pos), n); is_invisible_control(cp)) append_escape(out, cp);
      else out.append(text.substr(pos, n));
      pos += n ? n : 1;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          append_escape(out, c);
        } else {
          out += static_cast<char>(c);
        }
    }
    ++pos;
  }
  return out + "\"";
}

void JsonWriter::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
}

JsonWriter& JsonWriter::begin_object() {
  before_value();
  out_ += '{';
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  first_.pop_back();
  out_ += '}';
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  before_value();
  out_ += '[';
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  first_.pop_back();
  out_ += ']';
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  before_value();
  out_ += json_quote(name);
  out_ += ':';
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view text) {
  before_value();
  out_ += json_quote(text);
  return *this;
}

JsonWriter& JsonWriter::value(bool flag) {
  before_value();
  out_ += flag ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::value(int64_t number) {
  before_value();
  out_ += std::to_string(number);
  return *this;
}

JsonWriter& JsonWriter::value(uint64_t number) {
  before_value();
  out_ += std::to_string(number);
  return *this;
}

JsonWriter& JsonWriter::value(double number) {
  before_value();
  if (!std::isfinite(number)) {
    out_ += "null";
    return *this;
  }
  char text[32];
  auto [end, err] = std::to_chars(text, text + sizeof text, number);
  out_.append(text, end);
  return *this;
}

JsonWriter& JsonWriter::null() {
  before_value();
  out_ += "null";
  return *this;
}

JsonWriter& JsonWriter::raw(std::string_view json) {
  before_value();
  out_ += json;
  return *this;
}

JsonWriter& JsonWriter::newline() {
  out_ += '\n';
  return *this;
}

}  // namespace pthrun
