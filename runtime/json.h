// JSON for pthrun: a bounded reader for untrusted text (safetensors headers, config.json,
// vocabularies, allocator traces, HTTP request bodies) on nlohmann-json, typed reads that
// throw pthrun::Error, and the writer behind every --json output.
//
//   JsonValue doc = parse_json(text, limits);      // throws pthrun::Error with the byte offset
//   int64_t heads = json_int(doc, "n_head");        // "\"n_head\": expected an integer ..., found a string"
//   for (const auto& [name, entry] : doc.items()) ...  // members in the order of the text
//   JsonWriter out; out.begin_object().key("format").value("zip").end_object();
//
// parse_json enforces its limits while it parses (nlohmann's SAX interface), never after: the
// text's size, nesting depth, the length of each string, the items of each array, the members
// of each object, and the memory the parsed value takes, counted as it is built, which is what
// keeps a small text from becoming a large value. Duplicate keys are refused. Strings are
// valid UTF-8 (nlohmann's lexer checks). Integers are exact 64-bit values (int64 or uint64);
// an integer literal beyond 64 bits is kept as a double, which the integer reads refuse.
//
// The writer's output is valid UTF-8 JSON whatever bytes a name holds: control characters are
// escaped, and a byte that is not UTF-8 becomes U+FFFD.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pthrun {

// Objects keep the order of the text.
using JsonValue = nlohmann::ordered_json;

struct JsonLimits {
  std::size_t max_bytes = std::size_t(1) << 30;          // the text
  int max_depth = 128;                                   // arrays and objects nested
  std::size_t max_string_bytes = std::size_t(64) << 20;  // one string or key
  std::size_t max_items = SIZE_MAX;                      // elements of one array
  std::size_t max_members = SIZE_MAX;                    // members of one object
  // The parsed value may take at most memory_base + memory_per_byte x the text's size.
  std::size_t memory_base = std::size_t(64) << 20;
  std::size_t memory_per_byte = 24;  // real files need 5 to 11
};

// Throws pthrun::Error "invalid JSON at byte N: ..." (N counted from 0).
JsonValue parse_json(std::string_view text, const JsonLimits& limits = {});

// Typed reads. Each throws pthrun::Error saying what was expected and what was found; the
// forms taking a key name the key ("\"n_head\": expected ...") and refuse a missing one.
const JsonValue* json_find(const JsonValue& object, std::string_view key);  // nullptr: absent or not an object
const JsonValue& json_at(const JsonValue& object, std::string_view key);
bool json_bool(const JsonValue& value);
int64_t json_int(const JsonValue& value);    // an integer within int64
uint64_t json_uint(const JsonValue& value);  // a non-negative integer within uint64
double json_double(const JsonValue& value);  // any number
const std::string& json_string(const JsonValue& value);
const JsonValue& json_array(const JsonValue& value);
const JsonValue& json_object(const JsonValue& value);
bool json_bool(const JsonValue& object, std::string_view key);
int64_t json_int(const JsonValue& object, std::string_view key);
uint64_t json_uint(const JsonValue& object, std::string_view key);
double json_double(const JsonValue& object, std::string_view key);
const std::string& json_string(const JsonValue& object, std::string_view key);
const JsonValue& json_array(const JsonValue& object, std::string_view key);
// "a string", "an array", ...; numbers as themselves ("-1", "1e+20").
std::string json_describe(const JsonValue& value);

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

// "a\"b" -> "\"a\\\"b\"" (quotes included); invalid UTF-8 bytes become U+FFFD.
std::string json_quote(std::string_view text);

}  // namespace pthrun
