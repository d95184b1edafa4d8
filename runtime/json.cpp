// The bounded JSON reader: nlohmann's SAX parser drives a builder that checks every limit as
// each token arrives, so an oversized value is refused before it is built, and builds the
// ordered value itself (appending members without nlohmann's linear duplicate search, which
// would make a header of a million tensors quadratic; duplicates are found with a hash set).
//
// Positions: nlohmann reports its own syntax errors with a position; for the builder's
// refusals the text is read through an iterator that records how far the lexer has read.
#include "runtime/json.h"

#include <charconv>
#include <iterator>
#include <unordered_set>

#include "runtime/error.h"
#include "runtime/quote.h"

namespace pthrun {

namespace {

// A char iterator that writes its position to *cursor whenever it advances.
class CountingIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  CountingIterator(const char* at, const char** cursor) : at_(at), cursor_(cursor) {}
  reference operator*() const { return *at_; }
  CountingIterator& operator++() {
    *cursor_ = ++at_;
    return *this;
  }
  CountingIterator operator++(int) {
    CountingIterator before = *this;
    ++*this;
    return before;
  }
  bool operator==(const CountingIterator& other) const { return at_ == other.at_; }
  bool operator!=(const CountingIterator& other) const { return at_ != other.at_; }

 private:
  const char* at_;
  const char** cursor_;
};

// Rough bytes of memory per part of a parsed value (nlohmann's layout on 64-bit libstdc++,
// with the allocator's overhead): what the memory limit counts.
constexpr std::size_t kValueCost = sizeof(JsonValue);
constexpr std::size_t kContainerCost = 48;  // the heap vector
constexpr std::size_t kMemberCost = sizeof(std::pair<const std::string, JsonValue>);
constexpr std::size_t kStringCost = 48;  // a heap string's header

// Builds the value; refuses (returns false) as soon as a limit is passed, leaving the reason.
class BoundedBuilder {
 public:
  using number_integer_t = JsonValue::number_integer_t;
  using number_unsigned_t = JsonValue::number_unsigned_t;
  using number_float_t = JsonValue::number_float_t;
  using string_t = JsonValue::string_t;
  using binary_t = JsonValue::binary_t;

  BoundedBuilder(JsonValue& root, const JsonLimits& limits, std::size_t text_bytes)
      : root_(root), limits_(limits), memory_limit_(limits.memory_base + limits.memory_per_byte * text_bytes) {}

  const std::string& refusal() const { return refusal_; }
  bool syntax_error() const { return syntax_error_; }
  std::size_t error_offset() const { return error_offset_; }

  bool null() { return add_scalar(JsonValue(nullptr)); }
  bool boolean(bool flag) { return add_scalar(JsonValue(flag)); }
  bool number_integer(number_integer_t number) { return add_scalar(JsonValue(number)); }
  bool number_unsigned(number_unsigned_t number) { return add_scalar(JsonValue(number)); }
  bool number_float(number_float_t number, const string_t&) { return add_scalar(JsonValue(number)); }
  bool binary(binary_t&) { return refuse("binary values are not JSON"); }

  bool string(string_t& text) {
    if (!check_string(text, "a string")) return false;
    return charge(text.size() + kStringCost) && add_scalar(JsonValue(std::move(text)));
  }

  bool start_object(std::size_t) { return open(JsonValue::object()); }

  bool key(string_t& name) {
    if (!check_string(name, "a key")) return false;
    if (open_.back().count == limits_.max_members)
      return refuse(str("an object of more than ", limits_.max_members, " members"));
    if (!charge(kMemberCost + name.size() + kStringCost)) return false;
    if (!remember_key(name)) return refuse(str("key ", in_quotes(name), " appears twice"));
    pending_key_ = std::move(name);
    return true;
  }

  bool end_object() {
    open_.pop_back();
    return true;
  }

  bool start_array(std::size_t) { return open(JsonValue::array()); }

  bool end_array() {
    open_.pop_back();
    return true;
  }

  bool parse_error(std::size_t position, const std::string& last_token, const nlohmann::json::exception& e) {
    syntax_error_ = true;
    error_offset_ = position > 0 ? position - 1 : 0;
    refusal_ = nlohmann_reason(e.what(), last_token);
    return false;
  }

 private:
  struct Open {
    JsonValue* value;
    std::string key;                       // the key it was opened under, for messages
    std::size_t count = 0;                 // items or members so far
    std::unordered_set<std::string> keys;  // an object's keys, once there are many
  };

  // nlohmann's message without its prefix, the text it last read quoted and cut short.
  static std::string nlohmann_reason(std::string message, const std::string& last_token) {
    if (const std::size_t column = message.find(", column "); column != std::string::npos) {
      if (const std::size_t colon = message.find(": ", column); colon != std::string::npos) message.erase(0, colon + 2);
    } else if (const std::size_t bracket = message.find("] "); bracket != std::string::npos) {
      message.erase(0, bracket + 2);
    }
    const std::string token = "'" + last_token + "'";
    if (const std::size_t at = message.find(token); at != std::string::npos)
      message.replace(at, token.size(), in_quotes(last_token, 40));
    return message;
  }

  bool refuse(std::string reason) {
    refusal_ = std::move(reason);
    return false;
  }

  bool charge(std::size_t bytes) {
    memory_ += bytes;
    if (memory_ > memory_limit_)
      return refuse(str("the value would take more than ", memory_limit_, " bytes of memory"));
    return true;
  }

  bool check_string(const string_t& text, const char* what) {
    if (text.size() > limits_.max_string_bytes)
      return refuse(str(what, " of ", text.size(), " bytes, more than the limit of ", limits_.max_string_bytes));
    return true;
  }

  // False when the innermost object already has the key: searched linearly while the object
  // is small, then through a set.
  bool remember_key(const std::string& name) {
    constexpr std::size_t kLinear = 16;
    Open& object = open_.back();
    const auto& members = object.value->get_ref<const JsonValue::object_t&>();
    if (members.size() < kLinear) {
      for (const auto& member : members)
        if (member.first == name) return false;
      return true;
    }
    if (object.keys.empty())
      for (const auto& member : members) object.keys.insert(member.first);
    return charge(name.size() + kStringCost) && object.keys.insert(name).second;
  }

  // Adds a value to the innermost open container (or makes it the root); returns where it is.
  JsonValue* add(JsonValue&& value) {
    if (!charge(kValueCost)) return nullptr;
    if (open_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Open& parent = open_.back();
    if (parent.value->is_array()) {
      if (parent.count == limits_.max_items) {
        refuse(str(parent.key.empty() ? std::string("an array") : "array " + in_quotes(parent.key), " has more than ",
                   limits_.max_items, " items"));
        return nullptr;
      }
      ++parent.count;
      auto& items = parent.value->get_ref<JsonValue::array_t&>();
      items.push_back(std::move(value));
      return &items.back();
    }
    ++parent.count;
    // The ordered map's vector directly: its own emplace searches every member first.
    auto& members = static_cast<JsonValue::object_t::Container&>(parent.value->get_ref<JsonValue::object_t&>());
    members.emplace_back(std::move(pending_key_), std::move(value));
    return &members.back().second;
  }

  bool add_scalar(JsonValue&& value) { return add(std::move(value)) != nullptr; }

  bool open(JsonValue&& container) {
    if (static_cast<int>(open_.size()) >= limits_.max_depth)
      return refuse(str("nesting deeper than ", limits_.max_depth));
    std::string key = !open_.empty() && open_.back().value->is_object() ? pending_key_ : std::string();
    if (!charge(kContainerCost)) return false;
    JsonValue* placed = add(std::move(container));
    if (!placed) return false;
    open_.push_back({placed, std::move(key), 0, {}});
    return true;
  }

  JsonValue& root_;
  const JsonLimits& limits_;
  const std::size_t memory_limit_;
  std::size_t memory_ = 0;
  std::vector<Open> open_;
  std::string pending_key_;
  std::string refusal_;
  bool syntax_error_ = false;
  std::size_t error_offset_ = 0;
};

[[noreturn]] void fail_type(const JsonValue& value, const char* expected) {
  throw Error(str("expected ", expected, ", found ", json_describe(value)));
}

template <typename F>
decltype(auto) member(const JsonValue& object, std::string_view key, F&& read) {
  const JsonValue& value = json_at(object, key);
  try {
    return read(value);
  } catch (const Error& e) {
    throw Error(str(in_quotes(key), ": ", e.message()));
  }
}

}  // namespace

JsonValue parse_json(std::string_view text, const JsonLimits& limits) {
  PTHRUN_CHECK(text.size() <= limits.max_bytes, "JSON text of ", text.size(), " bytes exceeds the limit of ",
               limits.max_bytes);
  JsonValue root;
  BoundedBuilder builder(root, limits, text.size());
  const char* cursor = text.data();
  const bool ok = JsonValue::sax_parse(CountingIterator(text.data(), &cursor),
                                       CountingIterator(text.data() + text.size(), &cursor), &builder);
  if (!ok) {
    // The last byte read: where nlohmann found its error, or where the builder refused.
    const std::size_t read = static_cast<std::size_t>(cursor - text.data());
    const std::size_t offset = builder.syntax_error() ? builder.error_offset() : read > 0 ? read - 1 : 0;
    throw Error(str("invalid JSON at byte ", std::min(offset, text.size()), ": ", builder.refusal()));
  }
  return root;
}

std::string json_describe(const JsonValue& value) {
  switch (value.type()) {
    case JsonValue::value_t::null: return "null";
    case JsonValue::value_t::boolean: return "a boolean";
    case JsonValue::value_t::string: return "a string";
    case JsonValue::value_t::array: return "an array";
    case JsonValue::value_t::object: return "an object";
    case JsonValue::value_t::number_integer: return std::to_string(value.get<int64_t>());
    case JsonValue::value_t::number_unsigned: return std::to_string(value.get<uint64_t>());
    case JsonValue::value_t::number_float: {
      char text[32];
      const auto [end, error] = std::to_chars(text, text + sizeof text, value.get<double>());
      return std::string(text, error == std::errc() ? end : text);
    }
    default: return "a binary value";
  }
}

const JsonValue* json_find(const JsonValue& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  for (const auto& [name, value] : object.items())
    if (name == key) return &value;
  return nullptr;
}

const JsonValue& json_at(const JsonValue& object, std::string_view key) {
  if (!object.is_object()) fail_type(object, "an object");
  const JsonValue* value = json_find(object, key);
  PTHRUN_CHECK(value, "missing key ", in_quotes(key));
  return *value;
}

bool json_bool(const JsonValue& value) {
  if (!value.is_boolean()) fail_type(value, "a boolean");
  return value.get<bool>();
}

int64_t json_int(const JsonValue& value) {
  if (value.is_number_integer() && (!value.is_number_unsigned() || value.get<uint64_t>() <= INT64_MAX))
    return value.get<int64_t>();
  fail_type(value, "an integer within 64 bits");
}

uint64_t json_uint(const JsonValue& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) return static_cast<uint64_t>(value.get<int64_t>());
  fail_type(value, "a non-negative integer within 64 bits");
}

double json_double(const JsonValue& value) {
  if (!value.is_number()) fail_type(value, "a number");
  return value.get<double>();
}

const std::string& json_string(const JsonValue& value) {
  if (!value.is_string()) fail_type(value, "a string");
  return value.get_ref<const std::string&>();
}

const JsonValue& json_array(const JsonValue& value) {
  if (!value.is_array()) fail_type(value, "an array");
  return value;
}

const JsonValue& json_object(const JsonValue& value) {
  if (!value.is_object()) fail_type(value, "an object");
  return value;
}

bool json_bool(const JsonValue& o, std::string_view key) {
  return member(o, key, [](auto& v) { return json_bool(v); });
}
int64_t json_int(const JsonValue& o, std::string_view key) {
  return member(o, key, [](auto& v) { return json_int(v); });
}
uint64_t json_uint(const JsonValue& o, std::string_view key) {
  return member(o, key, [](auto& v) { return json_uint(v); });
}
double json_double(const JsonValue& o, std::string_view key) {
  return member(o, key, [](auto& v) { return json_double(v); });
}

const std::string& json_string(const JsonValue& o, std::string_view key) {
  return member(o, key, [](const JsonValue& v) -> const std::string& { return json_string(v); });
}

const JsonValue& json_array(const JsonValue& o, std::string_view key) {
  return member(o, key, [](const JsonValue& v) -> const JsonValue& { return json_array(v); });
}

}  // namespace pthrun
