#include "loader/value.h"

#include <cmath>

#include "runtime/error.h"
#include "runtime/json.h"

namespace pthrun {

namespace {

const Value& check_kind(const Value& value, bool ok, const char* expected) {
  PTHRUN_CHECK(ok, "expected ", expected, ", found ", kind_name(value.kind()));
  return value;
}

void collect_plain(const Value& value, const std::string& path,
                   std::vector<std::pair<std::string, const Value*>>& out) {
  if (value.kind() == Value::Kind::tensor) return;
  if (!value.is_container() || !value.contains_tensor()) {
    out.emplace_back(path, &value);
    return;
  }
  const std::vector<Value>& items = value.items();
  for (std::size_t i = 0; i < items.size(); ++i) {
    std::string key = value.kind() == Value::Kind::dict ? value.keys()[i].key_text() : std::to_string(i);
    collect_plain(items[i], path.empty() ? key : path + "." + key, out);
  }
}

}  // namespace

const char* kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::none: return "None";
    case Value::Kind::boolean: return "bool";
    case Value::Kind::integer: return "int";
    case Value::Kind::floating: return "float";
    case Value::Kind::string: return "str";
    case Value::Kind::bytes: return "bytes";
    case Value::Kind::tuple: return "tuple";
    case Value::Kind::list: return "list";
    case Value::Kind::dict: return "dict";
    case Value::Kind::tensor: return "tensor";
  }
  return "?";
}

namespace {

const std::string empty_text;
const std::vector<Value> no_values;

}  // namespace

Value Value::boolean(bool flag) {
  Value v;
  v.kind_ = Kind::boolean;
  v.flag_ = flag;
  return v;
}

Value Value::integer(int64_t number) {
  Value v;
  v.kind_ = Kind::integer;
  v.int_ = number;
  return v;
}

Value Value::floating(double number) {
  Value v;
  v.kind_ = Kind::floating;
  v.float_ = number;
  return v;
}

Value Value::string(std::string text) {
  Value v;
  v.kind_ = Kind::string;
  v.text_ = std::make_shared<const std::string>(std::move(text));
  return v;
}

Value Value::bytes(std::string data) {
  Value v = string(std::move(data));
  v.kind_ = Kind::bytes;
  return v;
}

Value Value::tuple(std::vector<Value> items) {
  Value v = list(std::move(items));
  v.kind_ = Kind::tuple;
  return v;
}

Value Value::list(std::vector<Value> items) {
  Value v;
  v.kind_ = Kind::list;
  for (const Value& item : items) v.has_tensor_ = v.has_tensor_ || item.has_tensor_;
  if (!items.empty()) v.children_ = std::make_shared<const Children>(Children{std::move(items), {}});
  return v;
}

Value Value::dict(std::vector<Value> keys, std::vector<Value> values, bool ordered) {
  PTHRUN_ASSERT(keys.size() == values.size());
  Value v;
  v.kind_ = Kind::dict;
  v.flag_ = ordered;
  for (const Value& value : values) v.has_tensor_ = v.has_tensor_ || value.has_tensor_;
  if (!keys.empty()) v.children_ = std::make_shared<const Children>(Children{std::move(values), std::move(keys)});
  return v;
}

Value Value::tensor(std::size_t index) {
  Value v;
  v.kind_ = Kind::tensor;
  v.has_tensor_ = true;
  v.int_ = static_cast<int64_t>(index);
  return v;
}

bool Value::as_bool() const { return check_kind(*this, kind_ == Kind::boolean, "a bool").flag_; }

int64_t Value::as_int() const { return check_kind(*this, kind_ == Kind::integer, "an int").int_; }

double Value::as_double() const {
  check_kind(*this, kind_ == Kind::floating || kind_ == Kind::integer, "a number");
  return kind_ == Kind::floating ? float_ : static_cast<double>(int_);
}

const std::string& Value::as_string() const {
  check_kind(*this, is_text(), "a str");
  return text_ ? *text_ : empty_text;
}

std::size_t Value::tensor_index() const {
  return static_cast<std::size_t>(check_kind(*this, kind_ == Kind::tensor, "a tensor").int_);
}

const std::vector<Value>& Value::items() const {
  check_kind(*this, is_container(), "a tuple, list or dict");
  return children_ ? children_->items : no_values;
}

const std::vector<Value>& Value::keys() const {
  check_kind(*this, kind_ == Kind::dict, "a dict");
  return children_ ? children_->keys : no_values;
}

const Value* Value::find(std::string_view key) const {
  if (kind_ != Kind::dict || !children_) return nullptr;
  for (std::size_t i = 0; i < children_->keys.size(); ++i) {
    const Value& k = children_->keys[i];
    if (k.key_text_size() == key.size() && k.key_text() == key) return &children_->items[i];
  }
  return nullptr;
}

std::string Value::key_text() const {
  switch (kind_) {
    case Kind::string: return as_string();
    case Kind::integer: return std::to_string(int_);
    case Kind::boolean: return flag_ ? "True" : "False";
    case Kind::none: return "None";
    default: return str("<", kind_name(kind_), ">");
  }
}

std::size_t Value::key_text_size() const { return kind_ == Kind::string ? as_string().size() : key_text().size(); }

std::vector<std::pair<std::string, const Value*>> plain_values(const Value& root) {
  std::vector<std::pair<std::string, const Value*>> out;
  collect_plain(root, "", out);
  return out;
}

void write_value_json(JsonWriter& out, const Value& value) {
  switch (value.kind()) {
    case Value::Kind::none: out.null(); return;
    case Value::Kind::boolean: out.value(value.as_bool()); return;
    case Value::Kind::integer: out.value(value.as_int()); return;
    case Value::Kind::floating: {
      const double f = value.as_double();
      if (std::isnan(f)) out.value("nan");
      else if (std::isinf(f)) out.value(f > 0 ? "inf" : "-inf");
      else if (f == 0 && std::signbit(f)) out.value("-0.0");
      else out.value(f);
      return;
    }
    case Value::Kind::string: out.value(value.as_string()); return;
    case Value::Kind::bytes: {
      static const char digits[] = "0123456789abcdef";
      std::string hex;
      for (unsigned char c : value.as_string()) {
        hex += digits[c >> 4];
        hex += digits[c & 15];
      }
      out.value(hex);
      return;
    }
    case Value::Kind::tuple:
    case Value::Kind::list:
      out.begin_array();
      for (const Value& item : value.items()) write_value_json(out, item);
      out.end_array();
      return;
    case Value::Kind::dict:
      out.begin_object();
      for (std::size_t i = 0; i < value.items().size(); ++i) {
        out.key(value.keys()[i].key_text());
        write_value_json(out, value.items()[i]);
      }
      out.end_object();
      return;
    case Value::Kind::tensor:
      out.begin_object().key("tensor").value(static_cast<uint64_t>(value.tensor_index())).end_object();
      return;
  }
}

}  // namespace pthrun
