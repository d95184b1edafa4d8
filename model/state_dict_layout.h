// Reading a GPT-2 state dict in the book's naming (GPTModel from *Build a Large Language Model
// From Scratch*) or Hugging Face's (GPT2LMHeadModel, or GPT2Model without "transformer."):
// what the model's configuration is, and which checkpoint tensor fills which weight.
//
//   StateDictLayout layout = read_layout(ckpt.state_dict(), "model.pth");   // config, naming
//   layout.config.heads = ...;                                             // shapes cannot say
//   LoadPlan plan = plan_load(layout);          // every problem in one error, before allocation
//   Gpt2Weights weights = allocate_weights(...);
//   load_tensors(ckpt, plan.requests(weights));
//
// Prefixes that wrap every name ("_orig_mod." from torch.compile, "module." from DataParallel)
// are stripped. Buffers that carry no weights are skipped: the book's att.mask, HF's attn.bias
// and attn.masked_bias, position_ids, integer and bool tensors. nanoGPT's checkpoints use HF's
// names with nn.Linear's [out, in] matrices: the shapes tell which.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "loader/checkpoint.h"
#include "loader/stream_loader.h"
#include "model/config.h"
#include "model/config_file.h"
#include "model/weights.h"

namespace pthrun {

enum class Naming { book, hf };
const char* naming_name(Naming naming);  // "book", "Hugging Face"
// The matrix layout a naming stores: [out, in] for the book's nn.Linear, [in, out] for HF's Conv1D.
kernels::WeightLayout matrix_layout_of(Naming naming);

// One tensor of a GPT-2 state dict: its name and shape in a naming, and the view of the weights
// it holds, for weights whose matrices are in that naming's layout.
struct StateDictEntry {
  std::string name;
  Shape shape;
  std::function<Tensor(const Gpt2Weights&)> weight;
  bool tied_to_embedding = false;  // a tied head: the embedding's bytes under a second name
  bool zero_filled = false;        // a bias the model has and the file lacks (nanoGPT's bias=False)
};

// Every tensor of GPT-2's weights in `naming`, in the order the model's state_dict() lists
// them, buffers left out. HF names start with `hf_root`: "transformer." in GPT2LMHeadModel,
// "" in GPT2Model. One table for reading checkpoints (plan_load) and writing them (export.h).
// Matrices are in the naming's layout unless `layout` says otherwise (nanoGPT's nn.Linear
// under HF's names).
std::vector<StateDictEntry> state_dict_entries(Naming naming, const Gpt2Config& config,
                                               const std::string& hf_root = "transformer.",
                                               std::optional<kernels::WeightLayout> layout = {});

struct StateDictLayout {
  std::string source;             // the checkpoint path, for messages
  Naming naming = Naming::book;
  std::string prefix;             // stripped from every name
  Gpt2Config config;              // heads still 0: see resolve_head_count()
  kernels::WeightLayout matrix_layout = kernels::WeightLayout::out_in;
  DType dtype = DType::f32;         // the token embedding's, as stored
  std::vector<TensorInfo> tensors;  // the state dict, names without the prefix
};

// Infers naming and configuration; throws pthrun::Error naming the file and what is missing.
// The matrices' layout comes from their shapes (HF's Conv1D [in, out] or nanoGPT's nn.Linear
// [out, in] under the same names). `config_file`, when given, adds what shapes cannot say and
// must agree with them (config_file.h).
StateDictLayout read_layout(std::vector<TensorInfo> state_dict, const std::string& source,
                            const ConfigFile* config_file = nullptr);

class LoadPlan {
 public:
  // The load requests that fill `weights`, allocated for the layout's configuration.
  std::vector<LoadRequest> requests(const Gpt2Weights& weights) const;
  // The weights the file lacks and the model takes as zeros (nanoGPT's bias=False).
  std::vector<Tensor> zero_filled(const Gpt2Weights& weights) const;
  // The checkpoint tensors the model takes, in plan order.
  std::vector<TensorInfo> sources() const;
  // One line each for what was skipped: buffers that hold no weights, tensors --allow-unused
  // ignored.
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  friend LoadPlan plan_load(const StateDictLayout& layout, bool allow_unused);
  struct Entry {
    TensorInfo source;
    std::function<Tensor(const Gpt2Weights&)> destination;
  };
  std::vector<Entry> entries_;
  std::vector<std::function<Tensor(const Gpt2Weights&)>> zeros_;
  std::vector<std::string> notes_;
};

// Matches every tensor the model needs against the state dict. Missing tensors, unexpected
// ones, wrong shapes and non-floating dtypes are all listed in one error. Buffers that hold no
// weights (attention masks, position_ids, integer and bool tensors) are skipped with a note;
// other extra tensors are errors unless `allow_unused` (PyTorch's strict=False).
LoadPlan plan_load(const StateDictLayout& layout, bool allow_unused = false);

}  // namespace pthrun
