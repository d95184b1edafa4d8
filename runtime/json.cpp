#include "runtime/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "runtime/error.h"
#include "runtime/utf8.h"

namespace pthrun {

namespace {

const char* kind_text(Json::Kind kind) {
  switch (kind) {
    case Json::Kind::null: return "null";
    case Json::Kind::boolean: return "a boolean";
    case Json::Kind::number: return "a number";
    case Json::Kind::string: return "a string";
    case Json::Kind::array: return "an array";
    case Json::Kind::object: return "an object";
  }
  return "?";
}

}  // namespace

class JsonParser {
 public:
  JsonParser(std::string_view text, JsonLimits limits) : text_(text), limits_(limits) {}

  Json parse_document() {
    PTHRUN_CHECK(text_.size() <= limits_.max_bytes, "JSON text of ", text_.size(),
                 " bytes exceeds the limit of ", limits_.max_bytes);
    Json value = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the value");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(str("invalid JSON at byte ", pos_, ": ", what));
  }

  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' || text_[pos_] == '\t'))
      ++pos_;
  }

  bool consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Json parse_value(int depth) {
    if (depth > limits_.max_depth) fail(str("nesting deeper than ", limits_.max_depth));
    skip_space();
    if (pos_ >= text_.size()) fail("unexpected end of text");
    Json value;
    char c = text_[pos_];
    if (c == '{') {
      value.kind_ = Json::Kind::object;
      ++pos_;
      skip_space();
      if (consume("}")) return value;
      while (true) {
        skip_space();
        if (pos_ >= text_.size() || text_[pos_] != '"') fail("expected a string key");
        std::string key = parse_string();
        skip_space();
        if (!consume(":")) fail("expected ':'");
        value.members_.emplace_back(std::move(key), parse_value(depth + 1));
        skip_space();
        if (consume("}")) return value;
        if (!consume(",")) fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      value.kind_ = Json::Kind::array;
      ++pos_;
      skip_space();
      if (consume("]")) return value;
      while (true) {
        value.items_.push_back(parse_value(depth + 1));
        skip_space();
        if (consume("]")) return value;
        if (!consume(",")) fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      value.kind_ = Json::Kind::string;
      value.text_ = parse_string();
      return value;
    }
    if (consume("true")) {
      value.kind_ = Json::Kind::boolean;
      value.boolean_ = true;
      return value;
    }
    if (consume("false")) {
      value.kind_ = Json::Kind::boolean;
      return value;
    }
    if (consume("null")) return value;
    if (c == '-' || (c >= '0' && c <= '9')) {
      value.kind_ = Json::Kind::number;
      value.text_ = parse_number();
      return value;
    }
    fail(str("unexpected character '", c, "'"));
  }

  std::string parse_number() {
    std::size_t start = pos_;
    auto digits = [&] {
      std::size_t before = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ > before;
    };
    consume("-");
    if (!consume("0") && !digits()) fail("expected digits");
    if (consume(".") && !digits()) fail("expected digits after '.'");
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (!consume("+")) consume("-");
      if (!digits()) fail("expected digits in the exponent");
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  uint32_t parse_hex4() {
    if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
    uint32_t value = 0;
    auto [end, err] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, value, 16);
    if (err != std::errc() || end != text_.data() + pos_ + 4) fail("bad \\u escape");
    pos_ += 4;
    return value;
  }

  std::string parse_string() {
    ++pos_;  // the opening quote
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("control character in a string");
      if (c == '\\') {
        if (++pos_ >= text_.size()) fail("unterminated escape");
        char e = text_[pos_++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            uint32_t cp = parse_hex4();
            if (cp >= 0xd800 && cp <= 0xdbff) {
              if (!consume("\\u")) fail("lone high surrogate");
              uint32_t low = parse_hex4();
              if (low < 0xdc00 || low > 0xdfff) fail("bad low surrogate");
              cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
              fail("lone low surrogate");
            }
            append_utf8(out, static_cast<char32_t>(cp));
            break;
          }
          default: fail(str("unknown escape '\\", e, "'"));
        }
        continue;
      }
      std::size_t n = utf8_sequence_length(text_.substr(pos_));
      if (n == 0) fail("invalid UTF-8 in a string");
      out.append(text_.substr(pos_, n));
      pos_ += n;
    }
  }

  std::string_view text_;
  JsonLimits limits_;
  std::size_t pos_ = 0;
};

Json parse_json(std::string_view text, JsonLimits limits) {
  return JsonParser(text, limits).parse_document();
}

std::string Json::kind_name() const { return kind_text(kind_); }

bool Json::as_bool() const {
  PTHRUN_CHECK(kind_ == Kind::boolean, "expected a boolean, found ", kind_text(kind_));
  return boolean_;
}

double Json::as_double() const {
  PTHRUN_CHECK(kind_ == Kind::number, "expected a number, found ", kind_text(kind_));
  return std::strtod(text_.c_str(), nullptr);
}

int64_t Json::as_int() const {
  PTHRUN_CHECK(kind_ == Kind::number, "expected an integer, found ", kind_text(kind_));
  int64_t value = 0;
  auto [end, err] = std::from_chars(text_.data(), text_.data() + text_.size(), value);
  PTHRUN_CHECK(err == std::errc() && end == text_.data() + text_.size(),
               "expected an integer within 64 bits, found ", text_);
  return value;
}

uint64_t Json::as_uint() const {
  PTHRUN_CHECK(kind_ == Kind::number, "expected an integer, found ", kind_text(kind_));
  uint64_t value = 0;
  auto [end, err] = std::from_chars(text_.data(), text_.data() + text_.size(), value);
  PTHRUN_CHECK(err == std::errc() && end == text_.data() + text_.size(),
               "expected a non-negative integer within 64 bits, found ", text_);
  return value;
}

const std::string& Json::as_string() const {
  PTHRUN_CHECK(kind_ == Kind::string, "expected a string, found ", kind_text(kind_));
  return text_;
}

const std::vector<Json>& Json::items() const {
  PTHRUN_CHECK(kind_ == Kind::array, "expected an array, found ", kind_text(kind_));
  return items_;
}

const std::vector<std::pair<std::string, Json>>& Json::members() const {
  PTHRUN_CHECK(kind_ == Kind::object, "expected an object, found ", kind_text(kind_));
  return members_;
}

const Json* Json::find(std::string_view key) const {
  for (const auto& [name, value] : members())
    if (name == key) return &value;
  return nullptr;
}

const Json& Json::at(std::string_view key) const {
  const Json* value = find(key);
  PTHRUN_CHECK(value, "missing key \"", key, "\"");
  return *value;
}

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char escape[8];
          std::snprintf(escape, sizeof escape, "\\u%04x", c);
          out += escape;
        } else {
          out += ch;
        }
    }
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
