// The pickle stack machine, driven by one opcode table: each row names an opcode, says how
// its argument is encoded and points at the member that runs it, so the decoder and the
// handlers cannot drift apart. Rows without a handler are opcodes that exist but that torch
// never writes for tensors and plain values; they are refused by name.
//
// Limits (PickleLimits) bound everything a hostile pickle could inflate: lengths are checked
// against the bytes that remain before any copy, the memo is a map (a huge index costs
// nothing), nesting, stack, node and string sizes are capped, and every allocation is charged
// against a memory budget that grows with the bytes read (charge()).
#include <algorithm>
#include <array>
#include <cstring>

#include "loader/pickle_machine.h"
#include "runtime/quote.h"
#include "runtime/utf8.h"

namespace pthrun::pickle_detail {

namespace {

enum Arg : uint8_t {
  arg_none,
  arg_u1,
  arg_u2,
  arg_u4,
  arg_u8,
  arg_i4,
  arg_f8be,     // big-endian IEEE double
  arg_long1,    // u1 length, then that many bytes of little-endian two's complement
  arg_text1,    // u1 length, then bytes
  arg_text4,    // u4 length, then bytes
  arg_text8,    // u8 length, then bytes
  arg_lines2,   // "module\nname\n"
};

// A dict from its children (key, value, key, value, ...). Python keeps the first position of
// a repeated key and its last value. Keys are compared by kind and content without copying
// them: a key may be a long string shared by many dicts.
Value make_dict(std::vector<Value> children, bool ordered) {
  std::vector<Value> keys, values;
  std::unordered_map<std::string_view, std::size_t> texts[2];  // str keys, bytes keys
  std::unordered_map<std::string, std::size_t> others;         // ints, bools, None, floats
  for (std::size_t i = 0; i + 1 < children.size(); i += 2) {
    Value& key = children[i];
    std::size_t first = keys.size();
    if (key.is_text()) first = texts[key.kind() == Value::Kind::bytes].emplace(key.as_string(), first).first->second;
    else first = others.emplace(str(kind_name(key.kind()), ":", key.key_text()), first).first->second;
    if (first == keys.size()) {
      keys.push_back(std::move(key));
      values.push_back(std::move(children[i + 1]));
    } else {
      values[first] = std::move(children[i + 1]);
    }
  }
  return Value::dict(std::move(keys), std::move(values), ordered);
}

}  // namespace

struct OpcodeTable {
  struct Row {
    uint8_t code;
    const char* name;
    uint8_t arg;
    void (Machine::*run)(const Machine::Operand&);
  };

  static constexpr Row rows[] = {
      {'(', "MARK", arg_none, &Machine::op_mark},
      {'.', "STOP", arg_none, &Machine::op_stop},
      {'0', "POP", arg_none, &Machine::op_pop},
      {'1', "POP_MARK", arg_none, &Machine::op_pop_mark},
      {'2', "DUP", arg_none, &Machine::op_dup},
      {'N', "NONE", arg_none, &Machine::op_none},
      {0x88, "NEWTRUE", arg_none, &Machine::op_newtrue},
      {0x89, "NEWFALSE", arg_none, &Machine::op_newfalse},
      {'J', "BININT", arg_i4, &Machine::op_int},
      {'K', "BININT1", arg_u1, &Machine::op_uint},
      {'M', "BININT2", arg_u2, &Machine::op_uint},
      {0x8a, "LONG1", arg_long1, &Machine::op_int},
      {'G', "BINFLOAT", arg_f8be, &Machine::op_float},
      {'X', "BINUNICODE", arg_text4, &Machine::op_unicode},
      {0x8c, "SHORT_BINUNICODE", arg_text1, &Machine::op_unicode},
      {0x8d, "BINUNICODE8", arg_text8, &Machine::op_unicode},
      {'U', "SHORT_BINSTRING", arg_text1, &Machine::op_unicode},
      {'T', "BINSTRING", arg_text4, &Machine::op_unicode},
      {'B', "BINBYTES", arg_text4, &Machine::op_bytes},
      {'C', "SHORT_BINBYTES", arg_text1, &Machine::op_bytes},
      {0x8e, "BINBYTES8", arg_text8, &Machine::op_bytes},
      {')', "EMPTY_TUPLE", arg_none, &Machine::op_empty_tuple},
      {'t', "TUPLE", arg_none, &Machine::op_tuple},
      {0x85, "TUPLE1", arg_none, &Machine::op_tuple1},
      {0x86, "TUPLE2", arg_none, &Machine::op_tuple2},
      {0x87, "TUPLE3", arg_none, &Machine::op_tuple3},
      {']', "EMPTY_LIST", arg_none, &Machine::op_empty_list},
      {'a', "APPEND", arg_none, &Machine::op_append},
      {'e', "APPENDS", arg_none, &Machine::op_appends},
      {'}', "EMPTY_DICT", arg_none, &Machine::op_empty_dict},
      {'s', "SETITEM", arg_none, &Machine::op_setitem},
      {'u', "SETITEMS", arg_none, &Machine::op_setitems},
      {'c', "GLOBAL", arg_lines2, &Machine::op_global},
      {0x93, "STACK_GLOBAL", arg_none, &Machine::op_stack_global},
      {'R', "REDUCE", arg_none, &Machine::op_reduce},
      {'b', "BUILD", arg_none, &Machine::op_build},
      {0x81, "NEWOBJ", arg_none, &Machine::op_newobj},
      {'Q', "BINPERSID", arg_none, &Machine::op_binpersid},
      {'q', "BINPUT", arg_u1, &Machine::op_put},
      {'r', "LONG_BINPUT", arg_u4, &Machine::op_put},
      {0x94, "MEMOIZE", arg_none, &Machine::op_memoize},
      {'h', "BINGET", arg_u1, &Machine::op_get},
      {'j', "LONG_BINGET", arg_u4, &Machine::op_get},
      {0x80, "PROTO", arg_u1, &Machine::op_proto},
      {0x95, "FRAME", arg_u8, &Machine::op_frame},
      // Real opcodes that torch's state dicts and checkpoints never contain.
      {'I', "INT", arg_none, nullptr},
      {'L', "LONG", arg_none, nullptr},
      {'F', "FLOAT", arg_none, nullptr},
      {'S', "STRING", arg_none, nullptr},
      {'V', "UNICODE", arg_none, nullptr},
      {'P', "PERSID", arg_none, nullptr},
      {'p', "PUT", arg_none, nullptr},
      {'g', "GET", arg_none, nullptr},
      {'i', "INST", arg_none, nullptr},
      {'o', "OBJ", arg_none, nullptr},
      {'l', "LIST", arg_none, nullptr},
      {'d', "DICT", arg_none, nullptr},
      {0x82, "EXT1", arg_none, nullptr},
      {0x83, "EXT2", arg_none, nullptr},
      {0x84, "EXT4", arg_none, nullptr},
      {0x8b, "LONG4", arg_none, nullptr},
      {0x8f, "EMPTY_SET", arg_none, nullptr},
      {0x90, "ADDITEMS", arg_none, nullptr},
      {0x91, "FROZENSET", arg_none, nullptr},
      {0x92, "NEWOBJ_EX", arg_none, nullptr},
      {0x96, "BYTEARRAY8", arg_none, nullptr},
      {0x97, "NEXT_BUFFER", arg_none, nullptr},
      {0x98, "READONLY_BUFFER", arg_none, nullptr},
  };

  // Row by opcode byte; nullptr for bytes that are no opcode at all.
  static const Row* find(uint8_t code) {
    static const std::array<const Row*, 256> by_code = [] {
      std::array<const Row*, 256> table{};
      for (const Row& row : rows) table[row.code] = &row;
      return table;
    }();
    return by_code[code];
  }
};

Machine::Machine(std::span<const uint8_t> bytes, const ErrorContext& where, PersistentIds ids,
                 const PickleLimits& limits)
    : bytes_(bytes), where_(where), ids_(ids), limits_(limits) {
  // The limit is on the pickle, which ends at STOP: a legacy file's storages follow it.
  if (bytes_.size() > limits_.max_bytes) {
    bytes_ = bytes_.first(limits_.max_bytes);
    capped_ = true;
  }
}

std::string Machine::position() const { return str(" (", op_name_, " at byte ", op_at_, ")"); }

void Machine::charge(std::size_t bytes) {
  memory_ += bytes;
  const std::size_t limit = limits_.memory_base + limits_.memory_per_byte * pos_;
  if (memory_ > limit)
    fail("the pickle would take more than ", limit, " bytes of memory after reading ", pos_,
         " bytes (shared references or many small objects)");
}

NodeId Machine::add(Node node) {
  if (nodes_.size() >= limits_.max_nodes) fail("more than ", limits_.max_nodes, " objects");
  charge(sizeof(Node) + node.text.size() + node.items.size() * sizeof(NodeId));
  nodes_.push_back(std::move(node));
  return static_cast<NodeId>(nodes_.size() - 1);
}

const uint8_t* Machine::take(uint64_t n, const char* what) {
  if (n > bytes_.size() - pos_ && capped_)
    fail("the pickle does not end within the limit of ", limits_.max_bytes, " bytes");
  if (n > bytes_.size() - pos_)
    fail("truncated: ", what, " needs ", n, " bytes, ", bytes_.size() - pos_, " remain");
  const uint8_t* p = bytes_.data() + pos_;
  pos_ += static_cast<std::size_t>(n);
  return p;
}

Machine::Operand Machine::decode(uint8_t arg_kind) {
  auto little = [&](int n) {
    const uint8_t* p = take(static_cast<uint64_t>(n), "the argument");
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | p[k];
    return v;
  };
  auto text = [&](uint64_t n) {
    if (n > limits_.max_string) fail("a string of ", n, " bytes exceeds the limit of ", limits_.max_string);
    const uint8_t* p = take(n, "the string");
    return std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  };
  Operand op;
  switch (arg_kind) {
    case arg_none: break;
    case arg_u1: op.u = little(1); break;
    case arg_u2: op.u = little(2); break;
    case arg_u4: op.u = little(4); break;
    case arg_u8: op.u = little(8); break;
    case arg_i4: op.i = static_cast<int32_t>(static_cast<uint32_t>(little(4))); break;
    case arg_f8be: {
      const uint8_t* p = take(8, "the float");
      uint64_t bits = 0;
      for (int k = 0; k < 8; ++k) bits = (bits << 8) | p[k];
      std::memcpy(&op.f, &bits, sizeof op.f);
      break;
    }
    case arg_long1: {
      const uint64_t n = little(1);
      if (n > 8) fail("an integer of ", n, " bytes does not fit in 64 bits");
      uint64_t v = n ? little(static_cast<int>(n)) : 0;
      if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t(0) << (8 * n);  // sign-extend
      op.i = static_cast<int64_t>(v);
      break;
    }
    case arg_text1: op.text = text(little(1)); break;
    case arg_text4: op.text = text(little(4)); break;
    case arg_text8: op.text = text(little(8)); break;
    case arg_lines2: {
      auto line = [&] {
        const std::size_t limit = std::min<std::size_t>(bytes_.size() - pos_, 1024);
        const void* nl = std::memchr(bytes_.data() + pos_, '\n', limit);
        if (!nl) fail("a global's name is not terminated within ", limit, " bytes");
        const auto n = static_cast<std::size_t>(static_cast<const uint8_t*>(nl) - (bytes_.data() + pos_));
        std::string_view s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
        pos_ += n + 1;
        return s;
      };
      op.text = line();
      op.text2 = line();
      break;
    }
    default: PTHRUN_ASSERT(false);
  }
  return op;
}

Unpickled Machine::run() {
  while (!stopped_) {
    op_at_ = pos_;
    op_name_ = "end of data";
    if (pos_ >= bytes_.size() && capped_)
      fail("the pickle does not end within the limit of ", limits_.max_bytes, " bytes");
    if (pos_ >= bytes_.size()) fail("truncated: the pickle ends without STOP");
    const uint8_t code = bytes_[pos_++];
    const OpcodeTable::Row* row = OpcodeTable::find(code);
    if (!row) fail(str("byte 0x", "0123456789abcdef"[code >> 4], "0123456789abcdef"[code & 15]),
                   " is not a pickle opcode");
    op_name_ = row->name;
    if (!row->run) fail("opcode ", row->name, " is not supported: torch does not write it for tensors or plain values");
    (this->*row->run)(decode(row->arg));
  }
  Unpickled out;
  charge(nodes_.size() * sizeof(converted_[0]));
  converted_.resize(nodes_.size());
  out.root = to_value(stack_.back(), 0).value;
  out.storages = std::move(storages);
  out.tensors = std::move(tensors);
  out.end = pos_;
  return out;
}

// Each object is converted once; a second reference shares the Value. What the tree costs
// expanded (as its walkers will see it) is summed on the way up and held to the limits.
const Machine::Converted& Machine::to_value(NodeId id, std::size_t depth) {
  auto too_deep = [&] {
    refuse("values nested deeper than ", limits_.max_depth, " levels (or a container that contains itself)");
  };
  if (converted_[id]) {
    if (depth + converted_[id]->height > limits_.max_depth) too_deep();
    return *converted_[id];
  }
  if (depth > limits_.max_depth) too_deep();
  const Node& n = nodes_[id];
  Converted out;
  out.values = 1;
  out.bytes = sizeof(Value);
  std::vector<Value> children;
  children.reserve(n.items.size());
  for (NodeId item : n.items) {
    const Converted& child = to_value(item, depth + 1);
    children.push_back(child.value);
    out.height = std::max(out.height, child.height + 1);
    out.values += child.values;
    out.bytes += child.bytes;
    // Both are bounded by the budget below, so the sums never overflow.
    if (out.values > limits_.max_nodes)
      refuse("the pickle expands to more than ", limits_.max_nodes, " values (shared references)");
    const std::size_t limit = limits_.memory_base + limits_.memory_per_byte * pos_;
    if (out.bytes > limit) refuse("the pickle expands to more than ", limit, " bytes of values (shared references)");
  }
  charge(sizeof(Value) * (1 + children.size()));
  switch (n.kind) {
    case NodeKind::none: break;
    case NodeKind::boolean: out.value = Value::boolean(n.flag); break;
    case NodeKind::integer: out.value = Value::integer(n.number); break;
    case NodeKind::floating: out.value = Value::floating(n.real); break;
    case NodeKind::string: out.value = Value::string(n.text); break;
    case NodeKind::bytes: out.value = Value::bytes(n.text); break;
    case NodeKind::tuple: out.value = Value::tuple(std::move(children)); break;
    case NodeKind::list: out.value = Value::list(std::move(children)); break;
    case NodeKind::dict: out.value = make_dict(std::move(children), n.flag); break;
    case NodeKind::tensor: out.value = Value::tensor(static_cast<std::size_t>(n.number)); break;
    case NodeKind::global:
      // A dtype is a plain value in some checkpoints (a config's torch_dtype).
      if (n.tag != GlobalTag::dtype)
        refuse("the pickle holds the global ", printable(n.text),
               " as a value; only tensors and plain values are read");
      out.value = Value::string("torch." + n.text);
      break;
    case NodeKind::storage:
      refuse("the pickle holds a bare storage (key ", in_quotes(storages[static_cast<std::size_t>(n.number)].key),
             "), not a tensor");
  }
  if (n.kind == NodeKind::string || n.kind == NodeKind::bytes) {
    charge(n.text.size());
    out.bytes += n.text.size();
  }
  converted_[id] = std::move(out);
  return *converted_[id];
}

void Machine::push(NodeId id) {
  if (stack_.size() >= limits_.max_stack) fail("more than ", limits_.max_stack, " values on the stack");
  stack_.push_back(id);
}

NodeId Machine::pop() {
  if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail("the stack is empty");
  NodeId id = stack_.back();
  stack_.pop_back();
  return id;
}

NodeId Machine::top() const {
  if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail("the stack is empty");
  return stack_.back();
}

std::vector<NodeId> Machine::pop_mark() {
  if (marks_.empty()) fail("no MARK to pop to");
  const std::size_t at = marks_.back();
  marks_.pop_back();
  std::vector<NodeId> items(stack_.begin() + static_cast<std::ptrdiff_t>(at), stack_.end());
  stack_.resize(at);
  return items;
}

void Machine::attach(NodeId container, NodeId child) {
  const uint32_t depth = std::max(nodes_[container].depth, nodes_[child].depth + 1);
  if (depth > limits_.max_depth) fail("values nested deeper than ", limits_.max_depth, " levels");
  nodes_[container].depth = depth;
  charge(2 * sizeof(NodeId));  // the item, and the vector's room to grow
  nodes_[container].items.push_back(child);
}

NodeId Machine::make_tuple(std::vector<NodeId> items) {
  Node n;
  n.kind = NodeKind::tuple;
  n.depth = 1;
  for (NodeId item : items) n.depth = std::max(n.depth, nodes_[item].depth + 1);
  if (n.depth > limits_.max_depth) fail("values nested deeper than ", limits_.max_depth, " levels");
  n.items = std::move(items);
  return add(std::move(n));
}

NodeId Machine::make_scalar(NodeKind kind, int64_t number, double real) {
  Node n;
  n.kind = kind;
  n.flag = number != 0;
  n.number = number;
  n.real = real;
  return add(std::move(n));
}

NodeId Machine::make_text(NodeKind kind, std::string_view text) {
  Node n;
  n.kind = kind;
  n.text = std::string(text);
  return add(std::move(n));
}

void Machine::check_utf8(std::string_view text, const char* what) const {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8_sequence_length(text.substr(i));
    if (n == 0) {
      const auto offset = static_cast<std::size_t>(reinterpret_cast<const uint8_t*>(text.data()) - bytes_.data()) + i;
      fail(what, " that is not valid UTF-8: byte 0x", "0123456789abcdef"[static_cast<uint8_t>(text[i]) >> 4],
           "0123456789abcdef"[static_cast<uint8_t>(text[i]) & 15], " at byte ", offset);
    }
    i += n;
  }
}

void Machine::check_key(NodeId key) {
  switch (nodes_[key].kind) {
    case NodeKind::string: case NodeKind::integer: case NodeKind::boolean:
    case NodeKind::none: case NodeKind::floating: case NodeKind::bytes:
      return;
    default:
      fail("a dict key must be a str or a number, not a ", nodes_[key].kind == NodeKind::tensor ? "tensor" : "container");
  }
}

void Machine::op_mark(const Operand&) {
  if (marks_.size() >= limits_.max_depth) fail("MARKs nested deeper than ", limits_.max_depth, " levels");
  marks_.push_back(stack_.size());
}

void Machine::op_stop(const Operand&) {
  if (!marks_.empty() || stack_.size() != 1)
    fail("STOP with ", stack_.size(), " values on the stack and ", marks_.size(), " open MARKs; expected one value");
  stopped_ = true;
}

void Machine::op_pop(const Operand&) { pop(); }
void Machine::op_pop_mark(const Operand&) { pop_mark(); }
void Machine::op_dup(const Operand&) { push(top()); }
void Machine::op_none(const Operand&) { push(make_scalar(NodeKind::none, 0)); }
void Machine::op_newtrue(const Operand&) { push(make_scalar(NodeKind::boolean, 1)); }
void Machine::op_newfalse(const Operand&) { push(make_scalar(NodeKind::boolean, 0)); }
void Machine::op_int(const Operand& op) { push(make_scalar(NodeKind::integer, op.i)); }
void Machine::op_uint(const Operand& op) { push(make_scalar(NodeKind::integer, static_cast<int64_t>(op.u))); }
void Machine::op_float(const Operand& op) { push(make_scalar(NodeKind::floating, 0, op.f)); }
void Machine::op_unicode(const Operand& op) {
  check_utf8(op.text, "a str");
  push(make_text(NodeKind::string, op.text));
}
void Machine::op_bytes(const Operand& op) { push(make_text(NodeKind::bytes, op.text)); }
void Machine::op_empty_tuple(const Operand&) { push(make_tuple({})); }
void Machine::op_tuple(const Operand&) { push(make_tuple(pop_mark())); }
void Machine::op_tuple1(const Operand&) { push(make_tuple({pop()})); }

void Machine::op_tuple2(const Operand&) {
  NodeId b = pop(), a = pop();
  push(make_tuple({a, b}));
}

void Machine::op_tuple3(const Operand&) {
  NodeId c = pop(), b = pop(), a = pop();
  push(make_tuple({a, b, c}));
}

void Machine::op_empty_list(const Operand&) {
  Node n;
  n.kind = NodeKind::list;
  n.depth = 1;
  push(add(std::move(n)));
}

void Machine::op_append(const Operand&) {
  NodeId value = pop();
  NodeId list = top();
  if (nodes_[list].kind != NodeKind::list) fail("APPEND to something that is not a list");
  attach(list, value);
}

void Machine::op_appends(const Operand&) {
  std::vector<NodeId> values = pop_mark();
  NodeId list = top();
  if (nodes_[list].kind != NodeKind::list) fail("APPENDS to something that is not a list");
  for (NodeId value : values) attach(list, value);
}

void Machine::op_empty_dict(const Operand&) {
  Node n;
  n.kind = NodeKind::dict;
  n.depth = 1;
  push(add(std::move(n)));
}

void Machine::op_setitem(const Operand&) {
  NodeId value = pop(), key = pop();
  NodeId dict = top();
  if (nodes_[dict].kind != NodeKind::dict) fail("SETITEM on something that is not a dict");
  check_key(key);
  attach(dict, key);
  attach(dict, value);
}

void Machine::op_setitems(const Operand&) {
  std::vector<NodeId> pairs = pop_mark();
  NodeId dict = top();
  if (nodes_[dict].kind != NodeKind::dict) fail("SETITEMS on something that is not a dict");
  if (pairs.size() % 2) fail("SETITEMS with an odd number of values");
  for (std::size_t i = 0; i < pairs.size(); i += 2) {
    check_key(pairs[i]);
    attach(dict, pairs[i]);
    attach(dict, pairs[i + 1]);
  }
}

void Machine::op_global(const Operand& op) {
  check_utf8(op.text, "a global's module");
  check_utf8(op.text2, "a global's name");
  push(torch_global(*this, op.text, op.text2));
}

void Machine::op_stack_global(const Operand&) {
  NodeId name = pop(), module = pop();
  if (nodes_[name].kind != NodeKind::string || nodes_[module].kind != NodeKind::string)
    fail("STACK_GLOBAL needs two strings");
  push(torch_global(*this, nodes_[module].text, nodes_[name].text));
}

void Machine::op_reduce(const Operand&) {
  NodeId args = pop(), callable = pop();
  push(torch_reduce(*this, callable, args));
}

void Machine::op_build(const Operand&) {
  NodeId state = pop();
  torch_build(*this, top(), state);
}

void Machine::op_newobj(const Operand&) {
  pop();
  NodeId cls = pop();
  fail("this file pickles a Python object of class ", printable(nodes_[cls].text),
       "; save model.state_dict() instead (nothing was executed)");
}

void Machine::op_binpersid(const Operand&) {
  if (ids_ == PersistentIds::none) fail("a persistent id where none is expected");
  push(torch_persistent_load(*this, pop()));
}

void Machine::op_put(const Operand& op) {
  const NodeId value = top();
  if (auto it = memo_.find(op.u); it != memo_.end()) {
    it->second = value;
    return;
  }
  if (memo_.size() >= limits_.max_memo) fail("more than ", limits_.max_memo, " memo entries");
  charge(64);  // a hash map node and its bucket
  memo_.emplace(op.u, value);
}

void Machine::op_memoize(const Operand&) {
  Operand op;
  op.u = memo_.size();
  op_put(op);
}

void Machine::op_get(const Operand& op) {
  auto it = memo_.find(op.u);
  if (it == memo_.end()) fail("memo entry ", op.u, " is read before it is written");
  push(it->second);
}

void Machine::op_proto(const Operand& op) {
  if (op.u < 2 || op.u > 5) fail("pickle protocol ", op.u, " is not supported (2 to 5 are)");
}

void Machine::op_frame(const Operand& op) {
  if (op.u > bytes_.size() - pos_) fail("truncated: a frame of ", op.u, " bytes, ", bytes_.size() - pos_, " remain");
}

}  // namespace pthrun::pickle_detail

namespace pthrun {

Unpickled unpickle(std::span<const uint8_t> bytes, const ErrorContext& where, PersistentIds ids,
                   const PickleLimits& limits) {
  return pickle_detail::Machine(bytes, where, ids, limits).run();
}

}  // namespace pthrun
