// Saves tensors (and plain values) as a .pth file that torch.load(..., weights_only=True)
// reads back exactly: the zip layout of torch >= 2.7 (zip_writer.h) around a protocol-2
// pickle of OrderedDicts and _rebuild_tensor_v2 calls, as torch.save writes it.
//
//   save_state_dict("model.pth", {{"wte.weight", wte}, {"wpe.weight", wpe}});
//
//   // A checkpoint dict: tensor leaves of the tree index `tensors`.
//   Value root = Value::dict({Value::string("model"), Value::string("epoch")},
//                            {state_dict_value, Value::integer(3)});
//   save_checkpoint("ckpt.pth", root, tensors);
//
// Tensors sharing a Storage are saved as views of one storage record, written once (tied
// weights stay tied). Tensors may live on a GPU: their storages are copied out in chunks.
// The file appears only when complete (written under a temporary name, then renamed).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "loader/value.h"
#include "runtime/tensor.h"

namespace pthrun {

void save_checkpoint(const std::string& path, const Value& root, const std::vector<Tensor>& tensors);
// An OrderedDict of the tensors, in order.
void save_state_dict(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors);

}  // namespace pthrun
