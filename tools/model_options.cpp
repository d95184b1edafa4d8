#include "tools/model_options.h"

#include <unistd.h>

#include "kernels/matmul.h"
#include "runtime/device.h"
#include "runtime/error.h"

namespace pthrun::cli {

std::vector<OptionSpec> with_model_options(std::vector<OptionSpec> options) {
  options.push_back({"device", 0, "D", "cpu, cuda or cuda:N (default: cuda when present, else cpu)"});
  options.push_back({"dtype", 0, "D", "f32, bf16 or f16 (default f32; bf16/f16 need a GPU)"});
  options.push_back({"heads", 0, "N", "attention heads (default: config.json beside the checkpoint, "
                                      "else the GPT-2 preset for the width)"});
  options.push_back({"key", 0, "K", "the state dict's entry in a checkpoint dict, e.g. model_state_dict"});
  options.push_back({"tf32", 0, nullptr, "let f32 matrix products on the GPU use TF32 tensor cores"});
  options.push_back({"verify", 0, nullptr, "check every record loaded against its zip CRC-32"});
  return options;
}

ModelOptions model_options(const ParsedArgs& args) {
  ModelOptions options;
  if (auto device = args.get("device")) {
    try {
      options.device = parse_device(*device);
    } catch (const Error& e) {
      throw UsageError(str("option --device: ", e.what()));
    }
    PTHRUN_CHECK(options.device->is_cpu() || options.device->index < cuda_device_count(), "--device ", *device,
                 ": ", cuda_device_count() == 0 ? std::string("no CUDA device on this machine")
                                                : str("only ", cuda_device_count(), " CUDA device(s) present"));
  }
  if (auto dtype = args.get("dtype")) {
    auto parsed = parse_dtype(*dtype);
    if (!parsed) throw UsageError(str("option --dtype: expected f32, bf16 or f16, got '", *dtype, "'"));
    options.dtype = *parsed;
  }
  if (args.has("heads")) options.heads = args.get_int("heads", 0, 1, 4096);
  options.key = args.get_or("key", "");
  options.load.progress = isatty(STDERR_FILENO) != 0;
  options.load.verify = args.has("verify");
  // TF32 is a process-wide switch of the matrix products, as torch.backends.cuda.matmul.allow_tf32 is.
  kernels::allow_tf32(args.has("tf32"));
  return options;
}

}  // namespace pthrun::cli
