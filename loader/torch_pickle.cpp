// What torch's pickles mean: the allowlist of globals, and what REDUCE, BUILD and persistent
// ids do with them. Nothing here calls anything: each allowed global becomes a tag, and a
// REDUCE on a tag builds a node (a dict, a tensor description, a tuple), never a Python call.
//
// Allowed: collections.OrderedDict; torch._utils._rebuild_tensor{,_v2,_v3},
// _rebuild_parameter{,_with_state}; torch._tensor._rebuild_from_type_v2 with torch.Tensor or
// torch.nn.parameter.Parameter; the storage class of every dtype and UntypedStorage; dtypes;
// torch.Size; torch.device. Refused by name, with the reason: quantized, sparse, meta, nested,
// subclass and device tensors, numpy, and every other global.
#include <cctype>

#include "loader/pickle_machine.h"
#include "runtime/quote.h"

namespace pthrun::pickle_detail {

namespace {

struct NamedTag {
  const char* module;
  const char* name;
  GlobalTag tag;
};

constexpr NamedTag allowed_globals[] = {
    {"collections", "OrderedDict", GlobalTag::ordered_dict},
    {"torch._utils", "_rebuild_tensor", GlobalTag::rebuild_tensor},
    {"torch._utils", "_rebuild_tensor_v2", GlobalTag::rebuild_tensor_v2},
    {"torch._utils", "_rebuild_tensor_v3", GlobalTag::rebuild_tensor_v3},
    {"torch._utils", "_rebuild_parameter", GlobalTag::rebuild_parameter},
    {"torch._utils", "_rebuild_parameter_with_state", GlobalTag::rebuild_parameter_with_state},
    {"torch._tensor", "_rebuild_from_type_v2", GlobalTag::rebuild_from_type_v2},
    {"torch", "Tensor", GlobalTag::tensor_class},
    {"torch.nn.parameter", "Parameter", GlobalTag::parameter_class},
    {"torch", "Size", GlobalTag::torch_size},
    {"torch", "device", GlobalTag::torch_device},
};

// torch's storage classes and the dtype each holds ("bytes": UntypedStorage).
struct StorageClass {
  const char* name;
  const char* dtype;
};

constexpr StorageClass storage_classes[] = {
    {"DoubleStorage", "float64"}, {"FloatStorage", "float32"},  {"HalfStorage", "float16"},
    {"BFloat16Storage", "bfloat16"}, {"LongStorage", "int64"}, {"IntStorage", "int32"},
    {"ShortStorage", "int16"},   {"CharStorage", "int8"},      {"ByteStorage", "uint8"},
    {"BoolStorage", "bool"},     {"ComplexFloatStorage", "complex64"},
    {"ComplexDoubleStorage", "complex128"}, {"UntypedStorage", "bytes"},
};

// torch.<name> dtype globals. Names pthrun has no dtype for are still recognised, so that a
// tensor of such a dtype is refused with its name rather than as an unknown global.
constexpr const char* dtype_names[] = {
    "float32", "float", "float16", "half", "bfloat16", "float64", "double", "int64", "long",
    "int32", "int", "int16", "short", "int8", "uint8", "bool", "uint16", "uint32", "uint64",
    "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu",
    "float4_e2m1fn_x2", "complex32", "complex64", "complex128", "cfloat", "cdouble", "chalf",
};

// Globals torch writes for tensors pthrun does not support, with the reason given.
struct Refusal {
  const char* module;
  const char* name;
  const char* reason;
};

constexpr Refusal refused_globals[] = {
    {"torch._utils", "_rebuild_qtensor", "quantized tensors are not supported"},
    {"torch", "per_tensor_affine", "quantized tensors are not supported"},
    {"torch", "per_tensor_symmetric", "quantized tensors are not supported"},
    {"torch", "per_channel_affine", "quantized tensors are not supported"},
    {"torch", "per_channel_symmetric", "quantized tensors are not supported"},
    {"torch", "per_channel_affine_float_qparams", "quantized tensors are not supported"},
    {"torch._utils", "_rebuild_sparse_tensor", "sparse tensors are not supported"},
    {"torch._utils", "_rebuild_sparse_csr_tensor", "sparse tensors are not supported"},
    {"torch.serialization", "_get_layout", "sparse tensors are not supported"},
    {"torch._utils", "_rebuild_meta_tensor_no_storage", "meta tensors have no data to load"},
    {"torch._utils", "_rebuild_nested_tensor", "nested tensors are not supported"},
    {"torch._utils", "_rebuild_wrapper_subclass", "tensor subclasses are not supported"},
    {"torch._utils", "_rebuild_device_tensor_from_numpy", "device tensors from numpy are not supported"},
    {"torch._utils", "_rebuild_device_tensor_from_cpu_tensor", "device-specific tensors are not supported"},
    {"torch._utils", "_rebuild_xla_tensor", "XLA tensors are not supported"},
    {"torch._utils", "_rebuild_mps_tensor", "MPS tensors are not supported"},
};

bool is_storage_module(std::string_view module) {
  return module == "torch" || module == "torch.storage" || module == "torch.cuda";
}

const Node& expect(const Machine& m, NodeId id, NodeKind kind, const char* what) {
  const Node& n = m.node(id);
  if (n.kind != kind) m.fail(what);
  return n;
}

int64_t expect_int(const Machine& m, NodeId id, const char* what) {
  return expect(m, id, NodeKind::integer, what).number;
}

// A tuple of non-negative ints (sizes, strides) as Dims; at most kMaxDims.
Dims expect_dims(const Machine& m, NodeId id, const char* what) {
  const Node& n = m.node(id);
  if (n.kind != NodeKind::tuple) m.fail(what, " must be a tuple of ints");
  if (n.items.size() > static_cast<std::size_t>(kMaxDims))
    m.fail(what, " has ", n.items.size(), " dimensions; at most ", kMaxDims, " are supported");
  Dims dims;
  for (NodeId item : n.items) {
    const int64_t v = expect_int(m, item, "a size or stride must be an int");
    if (v < 0) m.fail(what, " has a negative entry ", v);
    dims.push_back(v);
  }
  return dims;
}

// An empty dict or None: the backward hooks, metadata and state torch writes for a plain tensor.
void expect_empty(const Machine& m, NodeId id, const char* what) {
  const Node& n = m.node(id);
  if (n.kind == NodeKind::none || (n.kind == NodeKind::dict && n.items.empty())) return;
  m.fail(what, " must be empty: tensors with hooks, metadata or attributes are not supported");
}

NodeId make_global(Machine& m, GlobalTag tag, std::string text) {
  Node n;
  n.kind = NodeKind::global;
  n.tag = tag;
  n.text = std::move(text);
  return m.add(std::move(n));
}

NodeId rebuild_tensor(Machine& m, const std::vector<NodeId>& a, bool v3, std::size_t fixed) {
  if (a.size() < fixed || a.size() > fixed + (fixed == 4 ? 0 : 1)) m.fail("a tensor rebuild with ", a.size(), " arguments");
  const Node& storage = expect(m, a[0], NodeKind::storage, "a tensor's first argument must be a storage");
  PickledTensor t;
  t.storage = static_cast<std::size_t>(storage.number);
  t.storage_offset = expect_int(m, a[1], "a storage offset must be an int");
  if (t.storage_offset < 0) m.fail("negative storage offset ", t.storage_offset);
  t.shape = expect_dims(m, a[2], "the size");
  t.strides = expect_dims(m, a[3], "the stride");
  if (t.shape.size() != t.strides.size())
    m.fail("size ", t.shape.to_string(), " and stride ", t.strides.to_string(), " differ in rank");
  int64_t numel = 1;
  for (int64_t d : t.shape)
    if (__builtin_mul_overflow(numel, d, &numel)) m.fail("size ", t.shape.to_string(), " overflows 64 bits");
  const std::string& storage_dtype = m.storages[t.storage].dtype;
  if (fixed >= 6) {
    if (m.node(a[4]).kind != NodeKind::boolean) m.fail("requires_grad must be a bool");
    expect_empty(m, a[5], "backward hooks");
  }
  if (v3) {
    const Node& dtype = m.node(a[6]);
    if (dtype.kind != NodeKind::global || dtype.tag != GlobalTag::dtype) m.fail("_rebuild_tensor_v3 needs a dtype");
    if (storage_dtype != "bytes" && storage_dtype != dtype.text)
      m.fail("a ", dtype.text, " tensor over a ", storage_dtype, " storage");
    t.dtype = dtype.text;
  } else {
    if (storage_dtype == "bytes") m.fail("an UntypedStorage needs _rebuild_tensor_v3, which names the dtype");
    t.dtype = storage_dtype;
  }
  if (a.size() > fixed) expect_empty(m, a[fixed], "tensor metadata");
  m.charge(sizeof(PickledTensor) + t.dtype.size());
  m.tensors.push_back(std::move(t));
  Node n;
  n.kind = NodeKind::tensor;
  n.number = static_cast<int64_t>(m.tensors.size() - 1);
  return m.add(std::move(n));
}

}  // namespace

NodeId torch_global(Machine& m, std::string_view module, std::string_view name) {
  for (const NamedTag& g : allowed_globals)
    if (module == g.module && name == g.name) return make_global(m, g.tag, str(module, ".", name));
  if (is_storage_module(module))
    for (const StorageClass& s : storage_classes)
      if (name == s.name) return make_global(m, GlobalTag::storage_class, s.dtype);
  if (module == "torch")
    for (const char* d : dtype_names)
      if (name == d) return make_global(m, GlobalTag::dtype, std::string(name));
  // The name comes from the file: printed escaped and cut short.
  const std::string full = printable(str(module, ".", name));
  for (const Refusal& r : refused_globals)
    if (module == r.module && name == r.name) m.refuse(r.reason, " (global ", full, "; nothing was executed)");
  if (is_storage_module(module) && name.size() > 8 && name.substr(name.size() - 7) == "Storage" && name[0] == 'Q')
    m.refuse("quantized tensors are not supported (global ", full, "; nothing was executed)");
  if (module == "numpy" || module.substr(0, 6) == "numpy.")
    m.refuse("numpy arrays are not supported, only torch tensors (global ", full, "; nothing was executed)");
  // Python names classes in CapWords, functions in lower case: a class means a pickled object.
  if (!name.empty() && std::isupper(static_cast<unsigned char>(name[0])))
    m.refuse("this file pickles a Python object of class ", full,
             "; save model.state_dict() instead (nothing was executed)");
  m.refuse("global ", full, " is not allowed: pthrun reads only tensors and plain values, so nothing was executed");
}

NodeId torch_reduce(Machine& m, NodeId callable, NodeId args) {
  const Node& f = m.node(callable);
  if (f.kind != NodeKind::global) m.fail("REDUCE on something that is not an allowed global");
  const std::vector<NodeId> a = expect(m, args, NodeKind::tuple, "REDUCE arguments must be a tuple").items;
  switch (f.tag) {
    case GlobalTag::ordered_dict: {
      if (!a.empty()) m.fail("OrderedDict with arguments is not supported");
      Node n;
      n.kind = NodeKind::dict;
      n.flag = true;
      n.depth = 1;
      return m.add(std::move(n));
    }
    case GlobalTag::rebuild_tensor: return rebuild_tensor(m, a, false, 4);
    case GlobalTag::rebuild_tensor_v2: return rebuild_tensor(m, a, false, 6);
    case GlobalTag::rebuild_tensor_v3: return rebuild_tensor(m, a, true, 7);
    case GlobalTag::rebuild_parameter:
    case GlobalTag::rebuild_parameter_with_state: {
      const std::size_t n = f.tag == GlobalTag::rebuild_parameter ? 3 : 4;
      if (a.size() != n) m.fail(f.text, " with ", a.size(), " arguments");
      expect(m, a[0], NodeKind::tensor, "a parameter must wrap a tensor");
      expect_empty(m, a[2], "backward hooks");
      if (n == 4) expect_empty(m, a[3], "parameter state");
      return a[0];
    }
    case GlobalTag::rebuild_from_type_v2: {
      if (a.size() != 4) m.fail("_rebuild_from_type_v2 with ", a.size(), " arguments");
      const Node& type = m.node(a[1]);
      if (type.kind != NodeKind::global ||
          (type.tag != GlobalTag::tensor_class && type.tag != GlobalTag::parameter_class))
        m.fail("_rebuild_from_type_v2 for a type other than torch.Tensor or Parameter");
      expect_empty(m, a[3], "tensor state");
      const Node& inner = m.node(a[0]);
      if (inner.kind != NodeKind::global || inner.tag == GlobalTag::rebuild_from_type_v2)
        m.fail("_rebuild_from_type_v2 must wrap a tensor rebuild function");
      return torch_reduce(m, a[0], a[2]);
    }
    case GlobalTag::torch_size: {
      if (a.size() != 1) m.fail("torch.Size with ", a.size(), " arguments");
      expect_dims(m, a[0], "torch.Size");
      return a[0];
    }
    case GlobalTag::torch_device: {
      if (a.empty() || a.size() > 2) m.fail("torch.device with ", a.size(), " arguments");
      std::string text = expect(m, a[0], NodeKind::string, "torch.device needs a str").text;
      if (a.size() == 2) text += str(":", expect_int(m, a[1], "a device index must be an int"));
      Node n;
      n.kind = NodeKind::string;
      n.text = std::move(text);
      return m.add(std::move(n));
    }
    case GlobalTag::tensor_class:
    case GlobalTag::parameter_class:
    case GlobalTag::storage_class:
    case GlobalTag::dtype:
      break;
  }
  m.fail("calling ", f.text, " is not supported");
}

void torch_build(Machine& m, NodeId object, NodeId state) {
  // An OrderedDict's instance attributes: a state dict carries `_metadata` (module versions),
  // which loading does not need.
  if (m.node(object).kind != NodeKind::dict) m.fail("BUILD on something that is not a dict");
  const NodeKind k = m.node(state).kind;
  if (k != NodeKind::dict && k != NodeKind::none && k != NodeKind::tuple) m.fail("BUILD with an unexpected state");
}

NodeId torch_persistent_load(Machine& m, NodeId pid) {
  const Node& t = expect(m, pid, NodeKind::tuple, "a persistent id must be a tuple");
  const std::vector<NodeId> a = t.items;
  const bool legacy = m.persistent_ids() == PersistentIds::legacy;
  if (a.empty() || m.node(a[0]).kind != NodeKind::string || m.node(a[0]).text != "storage")
    m.fail("a persistent id other than ('storage', ...)",
           a.empty() || m.node(a[0]).kind != NodeKind::string ? "" : ": " + in_quotes(m.node(a[0]).text));
  if (a.size() != (legacy ? 6u : 5u)) m.fail("a storage persistent id of ", a.size(), " elements, expected ", legacy ? 6 : 5);
  const Node& cls = m.node(a[1]);
  if (cls.kind != NodeKind::global || cls.tag != GlobalTag::storage_class) m.fail("a persistent id without a storage class");
  const std::string& key = expect(m, a[2], NodeKind::string, "a storage key must be a str").text;
  if (key.empty() || key.size() > 256) m.fail("a storage key of ", key.size(), " characters");
  expect(m, a[3], NodeKind::string, "a storage location must be a str");
  const int64_t numel = expect_int(m, a[4], "a storage size must be an int");
  if (numel < 0) m.fail("a storage of negative size ", numel);
  if (legacy && m.node(a[5]).kind != NodeKind::none) m.fail("legacy storage views are not supported");

  auto [it, inserted] = m.storage_index.emplace(key, m.storages.size());
  if (inserted) {
    m.charge(sizeof(PickledStorage) + 2 * key.size() + 64);  // the storage, and its index entry
    m.storages.push_back({key, cls.text, numel});
  } else {
    const PickledStorage& s = m.storages[it->second];
    if (s.dtype != cls.text || s.numel != numel)
      m.fail("storage ", in_quotes(key), " is declared twice: ", s.numel, " x ", s.dtype, ", then ", numel, " x ",
             cls.text);
  }
  Node n;
  n.kind = NodeKind::storage;
  n.number = static_cast<int64_t>(it->second);
  return m.add(std::move(n));
}

}  // namespace pthrun::pickle_detail
