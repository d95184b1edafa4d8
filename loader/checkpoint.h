// A checkpoint opened for reading: the format, the pickled tree of plain values, and for
// every tensor where its bytes lie. Opening reads metadata only and executes nothing; tensor
// bytes are read on demand from the memory-mapped file (stream_loader.h).
//
//   Checkpoint ckpt = Checkpoint::open("model.pth");        // zip, legacy, safetensors, folder
//   Checkpoint hf = Checkpoint::open("gpt2-xl/");           // save_pretrained, sharded too
//   for (const TensorInfo& t : ckpt.state_dict())
//     std::printf("%s %s\n", t.name.c_str(), t.shape.to_string().c_str());
//   Tensor w = ckpt.read(ckpt.state_dict().front());         // one tensor, on the CPU
//
// Every error names the file (and the entry) and says what was expected.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "loader/value.h"
#include "runtime/dtype.h"
#include "runtime/shape.h"
#include "runtime/tensor.h"

namespace pthrun {

// A save_pretrained folder reads as the format of the one file it holds; `sharded` is an index
// file with its shards (each zip, legacy or safetensors).
enum class CheckpointFormat { zip, legacy, safetensors, folder, sharded };
// "zip", "legacy", "safetensors", "folder", "sharded"
const char* format_name(CheckpointFormat format);

struct TensorInfo {
  std::string name;             // key path joined with '.': "trf_blocks.0.att.W_query.weight"
  DType dtype = DType::f32;
  Shape shape;
  Strides strides;              // in elements
  int64_t storage_offset = 0;   // in elements
  std::string storage_key;      // tensors with equal keys share their bytes (tied weights)
  int64_t numel() const { return shape_numel(shape); }
  uint64_t nbytes() const { return static_cast<uint64_t>(numel()) * itemsize(dtype); }
};

class Checkpoint {
 public:
  // Detects the format from the content, parses and validates all metadata.
  static Checkpoint open(const std::string& path);

  Checkpoint(Checkpoint&&) noexcept;
  Checkpoint& operator=(Checkpoint&&) noexcept;
  ~Checkpoint();

  CheckpointFormat format() const;
  const std::string& path() const;
  // The zip's top folder ("archive", or the stem of the name the file was saved under);
  // empty for the other formats.
  const std::string& zip_root() const;
  // The tensors of the state dict: the dict at `key` (a '.'-joined path into a checkpoint
  // dict, e.g. "model_state_dict") when given, else the only dict of tensors in the file. Names
  // are relative to that dict. Throws, listing the candidates, when the choice is ambiguous.
  std::vector<TensorInfo> state_dict(std::string_view key = {}) const;
  // Every tensor in the file, named by its full key path.
  const std::vector<TensorInfo>& tensors() const;
  // One tensor's values, copied into a contiguous CPU tensor of its own dtype.
  Tensor read(const TensorInfo& info) const;
  // One tensor as a CPU view of the mapped file's bytes, without copying (what
  // torch.load(mmap=True) gives): pages are read when first touched, and the view keeps the
  // mapping alive. Throws for records that have no bytes in the mapping (compressed zip
  // entries) or whose byte order is not the machine's.
  Tensor map(const TensorInfo& info) const;
  // Throws pthrun::Error naming the file when one of the checkpoint's files was truncated
  // while mapped (mapped_file.h): views from map() then read zeros where the lost pages were.
  void check_intact() const;
  // The whole pickled tree: plain values (epoch, config) and tensor leaves, whose
  // tensor_index() counts tensor objects in the order the file creates them.
  const Value& root() const;

  struct Impl;  // the format's reader (loader/*.cpp)
  const Impl& impl() const { return *impl_; }

 private:
  explicit Checkpoint(std::unique_ptr<Impl> impl);
  static Checkpoint open_file(const std::string& path);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pthrun
