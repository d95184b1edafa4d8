// A safe unpickler for what torch.save writes: it builds a tree of plain values with tensor
// leaves and executes nothing.
//
//   Unpickled u = unpickle(bytes, "model.pth: entry archive/data.pkl", PersistentIds::zip);
//   u.root;                 // Value tree; tensor leaves index u.tensors
//   u.tensors[0].storage;   // index into u.storages: key, dtype, numel
//
// One opcode table (pickle.cpp) drives the decoder. Globals are looked up in a fixed allowlist
// (torch_pickle.cpp) and turned into internal tags: OrderedDict, torch's tensor rebuild
// functions, storage classes, dtypes, torch.Size and torch.device. Anything else is refused
// with an error naming the global; nothing is ever called. Every length is checked against
// the bytes that remain and against PickleLimits before anything is allocated.
//
// Memory is bounded by what was read: everything the unpickler builds (objects, container
// items, memo entries, tensor descriptions, and the tree of values, where a string referenced
// n times through the memo counts n times) is charged as it is made against memory_base +
// memory_per_byte x the bytes read so far. A small pickle cannot become a large tree; the tree
// itself shares every memo reference (see value.h), so it costs less than it is charged.
// Strings must be valid UTF-8, as Python's unpickler requires.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loader/value.h"
#include "runtime/error.h"
#include "runtime/shape.h"

namespace pthrun {

struct PickleLimits {
  std::size_t max_bytes = std::size_t(256) << 20;    // the pickle, up to STOP (a legacy file goes on)
  std::size_t max_depth = 256;                       // containers and MARKs nested
  std::size_t max_nodes = std::size_t(1) << 21;      // objects created, and values in the tree
  std::size_t max_memo = std::size_t(1) << 20;       // memo entries
  std::size_t max_stack = std::size_t(1) << 20;      // values on the stack at once
  std::size_t max_string = std::size_t(64) << 20;    // one str or bytes value
  std::size_t memory_base = std::size_t(64) << 20;   // memory: this much, plus
  std::size_t memory_per_byte = 64;                  //   this much per byte read (torch's need 24 to 42)
};

// Which persistent ids the pickle may contain.
enum class PersistentIds {
  none,    // plain values only (legacy headers)
  zip,     // ('storage', cls, key, location, numel): torch >= 1.6 zip files
  legacy,  // the same plus a sixth element, None: the legacy stream
};

// A storage as its persistent id declares it.
struct PickledStorage {
  std::string key;
  std::string dtype;  // torch's name ("float32", "complex64") or "bytes" for UntypedStorage
  int64_t numel = 0;  // elements; bytes for UntypedStorage
};

// A tensor as a _rebuild_tensor* call describes it.
struct PickledTensor {
  std::size_t storage = 0;  // index into Unpickled::storages
  std::string dtype;        // torch's name; may be one pthrun lacks ("float8_e4m3fn")
  Shape shape;
  Strides strides;          // elements
  int64_t storage_offset = 0;
};

struct Unpickled {
  Value root;
  std::vector<PickledStorage> storages;  // in order of first appearance
  std::vector<PickledTensor> tensors;    // in order of creation
  std::size_t end = 0;                   // offset just past STOP
};

// `where` names the file and entry in every error ({"model.pth", "entry archive/data.pkl"}).
// Reading stops at STOP; `end` says where, so several pickles can be read back to back (the
// legacy format), and bytes after STOP are never looked at.
Unpickled unpickle(std::span<const uint8_t> bytes, const ErrorContext& where, PersistentIds ids,
                   const PickleLimits& limits = {});

}  // namespace pthrun
