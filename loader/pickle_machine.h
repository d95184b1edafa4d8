// Internal to the unpickler: the object arena and the stack machine (pickle.cpp), and the
// torch-specific meaning of globals, REDUCE, BUILD and persistent ids (torch_pickle.cpp).
//
// Every object the pickle creates is a Node in one arena and is referred to by index, so memo
// references share objects exactly as Python's do, a container may even contain itself, and
// nothing leaks when parsing fails halfway. The arena is turned into a Value tree at the end,
// converting each object once (a memo reference shares the converted value), which is where
// cycles (depth) and exponential sharing (values and bytes as expanded) are caught.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "loader/pickle.h"
#include "runtime/error.h"

namespace pthrun::pickle_detail {

using NodeId = uint32_t;

enum class NodeKind : uint8_t {
  none, boolean, integer, floating, string, bytes, tuple, list, dict,
  global,   // an allowlisted global: `tag` says which, `text` its name or dtype
  storage,  // a persistent id: `number` indexes Machine::storages
  tensor,   // a rebuilt tensor: `number` indexes Machine::tensors
};

// The allowlisted globals (torch_pickle.cpp maps module.name to these).
enum class GlobalTag : uint8_t {
  ordered_dict,
  rebuild_tensor,     // torch._utils._rebuild_tensor (v1)
  rebuild_tensor_v2,
  rebuild_tensor_v3,
  rebuild_parameter,
  rebuild_parameter_with_state,
  rebuild_from_type_v2,
  tensor_class,       // torch.Tensor
  parameter_class,    // torch.nn.parameter.Parameter
  storage_class,      // text: its dtype's torch name, or "bytes" for UntypedStorage
  dtype,              // text: the dtype's torch name
  torch_size,
  torch_device,
};

struct Node {
  NodeKind kind = NodeKind::none;
  bool flag = false;          // a bool's value; a dict: OrderedDict
  GlobalTag tag = GlobalTag::ordered_dict;
  uint32_t depth = 0;         // containers: 1 + the deepest child when it was added
  int64_t number = 0;         // int value; storage or tensor index
  double real = 0;            // float value
  std::string text;           // str or bytes value; a global's name or dtype
  std::vector<NodeId> items;  // tuple/list items; dict: key, value, key, value, ...
};

class Machine {
 public:
  Machine(std::span<const uint8_t> bytes, const ErrorContext& where, PersistentIds ids, const PickleLimits& limits);
  // Runs to STOP and returns the unpickled tree.
  Unpickled run();

  // Used by torch_pickle.cpp.
  const Node& node(NodeId id) const { return nodes_[id]; }
  NodeId add(Node node);
  PersistentIds persistent_ids() const { return ids_; }
  std::vector<PickledStorage> storages;
  std::unordered_map<std::string, std::size_t> storage_index;  // key -> storages index
  std::vector<PickledTensor> tensors;
  // Charges `bytes` of memory against the limit (see PickleLimits).
  void charge(std::size_t bytes);
  // Throws pthrun::Error: "<where>: <message> (<opcode> at byte N)".
  template <typename... Args>
  [[noreturn]] void fail(Args&&... args) const {
    throw Error(where_, str(std::forward<Args>(args)..., position()));
  }
  // Same, without the position: for errors about what the file is rather than where.
  template <typename... Args>
  [[noreturn]] void refuse(Args&&... args) const {
    throw Error(where_, str(std::forward<Args>(args)...));
  }

 private:
  struct Operand {
    uint64_t u = 0;
    int64_t i = 0;
    double f = 0;
    std::string_view text, text2;
  };
  friend struct OpcodeTable;

  std::string position() const;
  const uint8_t* take(uint64_t n, const char* what);
  Operand decode(uint8_t arg_kind);
  void push(NodeId id);
  NodeId pop();
  NodeId top() const;
  std::vector<NodeId> pop_mark();
  void attach(NodeId container, NodeId child);
  NodeId make_tuple(std::vector<NodeId> items);
  NodeId make_scalar(NodeKind kind, int64_t number, double real = 0);
  NodeId make_text(NodeKind kind, std::string_view text);
  void check_key(NodeId key);
  void check_utf8(std::string_view text, const char* what) const;
  // A converted object and what it costs expanded (every reference counted).
  struct Converted {
    Value value;
    uint64_t values = 0;     // values in the expanded tree
    uint64_t bytes = 0;      // their memory, strings counted at each reference
    std::size_t height = 0;  // levels of containers below it
  };
  const Converted& to_value(NodeId id, std::size_t depth);

  // One member per supported opcode (pickle.cpp's table points at them).
  void op_mark(const Operand&);
  void op_stop(const Operand&);
  void op_pop(const Operand&);
  void op_pop_mark(const Operand&);
  void op_dup(const Operand&);
  void op_none(const Operand&);
  void op_newtrue(const Operand&);
  void op_newfalse(const Operand&);
  void op_int(const Operand&);
  void op_uint(const Operand&);
  void op_float(const Operand&);
  void op_unicode(const Operand&);
  void op_bytes(const Operand&);
  void op_empty_tuple(const Operand&);
  void op_tuple(const Operand&);
  void op_tuple1(const Operand&);
  void op_tuple2(const Operand&);
  void op_tuple3(const Operand&);
  void op_empty_list(const Operand&);
  void op_append(const Operand&);
  void op_appends(const Operand&);
  void op_empty_dict(const Operand&);
  void op_setitem(const Operand&);
  void op_setitems(const Operand&);
  void op_global(const Operand&);
  void op_stack_global(const Operand&);
  void op_reduce(const Operand&);
  void op_build(const Operand&);
  void op_newobj(const Operand&);
  void op_binpersid(const Operand&);
  void op_put(const Operand&);
  void op_memoize(const Operand&);
  void op_get(const Operand&);
  void op_proto(const Operand&);
  void op_frame(const Operand&);

  std::span<const uint8_t> bytes_;
  bool capped_ = false;  // bytes_ was cut to max_bytes: running out means too long
  ErrorContext where_;
  PersistentIds ids_;
  PickleLimits limits_;
  std::size_t pos_ = 0;      // next byte to decode
  std::size_t op_at_ = 0;    // the current opcode's offset
  const char* op_name_ = "";
  bool stopped_ = false;
  std::vector<Node> nodes_;
  std::vector<NodeId> stack_;
  std::vector<std::size_t> marks_;  // stack sizes at each open MARK
  std::unordered_map<uint64_t, NodeId> memo_;
  std::size_t memory_ = 0;                           // charged so far
  std::vector<std::optional<Converted>> converted_;  // per node, once converted
};

// torch_pickle.cpp: the allowlist and what the allowed globals do.
NodeId torch_global(Machine& m, std::string_view module, std::string_view name);
NodeId torch_reduce(Machine& m, NodeId callable, NodeId args);
void torch_build(Machine& m, NodeId object, NodeId state);
NodeId torch_persistent_load(Machine& m, NodeId pid);

}  // namespace pthrun::pickle_detail
