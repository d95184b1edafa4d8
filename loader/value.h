// The values a checkpoint's pickle holds: None, bool, int, float, str, bytes, tuple, list,
// dict, and tensor leaves. A checkpoint is a tree of these; tensors are described apart
// (TensorInfo) and a leaf only carries the tensor's index.
//
//   const Value& root = ckpt.root();
//   if (const Value* epoch = root.find("epoch")) std::printf("%lld\n", (long long)epoch->as_int());
//   for (const auto& [name, value] : plain_values(root)) ...   // every non-tensor leaf
//
// Dicts keep their insertion order (OrderedDict and dict alike); keys are Values too (torch
// writes int keys for optimizer state). A key appears in dotted names as its key_text(): a
// string as itself, an int in decimal.
//
// Copies share: a Value holds its text and its children through shared pointers, so a value
// the pickle references a thousand times (its memo) exists once in memory, and copying a Value
// never copies a string or a subtree. Whether a value holds a tensor is known in O(1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pthrun {

class JsonWriter;

class Value {
 public:
  enum class Kind : uint8_t { none, boolean, integer, floating, string, bytes, tuple, list, dict, tensor };

  Value() = default;  // None
  static Value boolean(bool flag);
  static Value integer(int64_t number);
  static Value floating(double number);
  static Value string(std::string text);
  static Value bytes(std::string data);
  static Value tuple(std::vector<Value> items);
  static Value list(std::vector<Value> items);
  // `ordered`: an OrderedDict (the writer pickles it as one).
  static Value dict(std::vector<Value> keys, std::vector<Value> values, bool ordered = false);
  static Value tensor(std::size_t index);

  Kind kind() const { return kind_; }
  bool is_container() const { return kind_ == Kind::tuple || kind_ == Kind::list || kind_ == Kind::dict; }
  bool is_text() const { return kind_ == Kind::string || kind_ == Kind::bytes; }
  // Each accessor throws pthrun::Error when the value is of another kind.
  bool as_bool() const;
  int64_t as_int() const;
  double as_double() const;  // a float, or an int converted
  const std::string& as_string() const;  // str or bytes
  std::size_t tensor_index() const;
  // Tuple and list items; a dict's values.
  const std::vector<Value>& items() const;
  // A dict's keys, parallel to items().
  const std::vector<Value>& keys() const;
  bool ordered() const { return flag_; }

  // A dict's value under the key whose key_text() is `key`; nullptr when absent.
  const Value* find(std::string_view key) const;
  // The text of this value as a key in a dotted name.
  std::string key_text() const;
  // Its size in bytes, without building it.
  std::size_t key_text_size() const;
  bool contains_tensor() const { return has_tensor_; }

 private:
  struct Children {
    std::vector<Value> items;
    std::vector<Value> keys;  // dicts only
  };
  Kind kind_ = Kind::none;
  bool flag_ = false;
  bool has_tensor_ = false;
  union {
    int64_t int_ = 0;
    double float_;
  };
  std::shared_ptr<const std::string> text_;
  std::shared_ptr<const Children> children_;
};

const char* kind_name(Value::Kind kind);

// The non-tensor leaves of a tree by dotted path; a container without tensors counts as one
// leaf. Same rule as the fixture manifests' "plain" maps.
std::vector<std::pair<std::string, const Value*>> plain_values(const Value& root);

// Writes a tensor-free value as JSON: tuples become arrays, keys their key_text(); floats JSON
// cannot spell (nan, inf, -inf) and -0.0 become strings "nan", "inf", "-inf", "-0.0"; bytes
// become a string of their hex digits. A tensor leaf is written as {"tensor": index}.
void write_value_json(JsonWriter& out, const Value& value);

}  // namespace pthrun
