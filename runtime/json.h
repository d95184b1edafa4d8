// A small JSON reader and writer, for safetensors headers, tokenizer vocabularies, config.json,
// allocator traces and the CLI's --json output.
//
//   Json doc = parse_json(text);                 // throws pthrun::Error with the byte offset
//   int64_t n = doc.at("n_head").as_int();
//   JsonWriter out; out.begin_object().key("format").value("zip").end_object();
//
// The reader takes untrusted input (safetensors headers come from downloaded files): nesting
// depth is capped, strings must be valid UTF-8, and numbers keep their text so that 64-bit
// integers (offsets, addresses) are read exactly rather than through a double.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pthrun {

class Json {
 public:
  enum class Kind { null, boolean, number, string, array, object };

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::null; }
  bool is_number() const { return kind_ == Kind::number; }
  bool is_string() const { return kind_ == Kind::string; }
  bool is_array() const { return kind_ == Kind::array; }
  bool is_object() const { return kind_ == Kind::object; }

  // Each accessor throws pthrun::Error when the value is of another kind.
  bool as_bool() const;
  double as_double() const;
  int64_t as_int() const;    // an integer literal within int64
  uint64_t as_uint() const;  // an integer literal within uint64
  const std::string& as_string() const;
  const std::vector<Json>& items() const;
  const std::vector<std::pair<std::string, Json>>& members() const;

  // Object member lookup: nullptr / throws when absent.
  const Json* find(std::string_view key) const;
  const Json& at(std::string_view key) const;
  std::string kind_name() const;

 private:
  friend class JsonParser;
  Kind kind_ = Kind::null;
  bool boolean_ = false;
  std::string text_;  // a string's value, or a number's literal
  std::vector<Json> items_;
  std::vector<std::pair<std::string, Json>> members_;
};

struct JsonLimits {
  int max_depth = 128;
  std::size_t max_bytes = std::size_t(1) << 30;
};

Json parse_json(std::string_view text, JsonLimits limits = {});

// Streams JSON text; commas are placed automatically.
class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);
  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
  JsonWriter& value(bool flag);
  JsonWriter& value(int64_t number);
  JsonWriter& value(uint64_t number);
  JsonWriter& value(int number) { return value(static_cast<int64_t>(number)); }
  JsonWriter& value(double number);  // NaN and infinities become null
  JsonWriter& null();
  // Inserts already-formatted JSON text as one value.
  JsonWriter& raw(std::string_view json);
  // Starts a new line before the next value (readable output for long arrays).
  JsonWriter& newline();
  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void before_value();
  std::string out_;
  std::vector<bool> first_;  // per open container: no value written yet
  bool after_key_ = false;
};

// "a\"b" -> "\"a\\\"b\"" (quotes included).
std::string json_quote(std::string_view text);

}  // namespace pthrun
