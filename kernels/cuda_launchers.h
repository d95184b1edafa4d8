// The CUDA backend's kernel launchers (plugin sources only): what the kernel entries of
// cuda_plugin_api.h run. Each takes the raw pointers and sizes that the core's Tensor entry
// (kernels/cuda_entries.cpp) checked, makes the device current, picks the element type,
// launches on the args' stream and checks the launch. The kernels themselves are file-private
// in kernels/<op>.cu.
#pragma once

#include "runtime/cuda_plugin_api.h"

namespace pthrun::kernels {

void launch_embedding(const PthrunCudaEmbeddingArgs& args);
void launch_layernorm(const PthrunCudaLayernormArgs& args);  // residual_layernorm when args.residual
// Returns the PthrunCudaLinearPath taken.
int launch_linear(const PthrunCudaLinearArgs& args);
// The path launch_linear would take; launches nothing.
int linear_path(const PthrunCudaLinearArgs& args);
void launch_kv_cache_append(const PthrunCudaKvAppendArgs& args);
void launch_attention_prefill(const PthrunCudaPrefillArgs& args);
void launch_attention_decode(const PthrunCudaDecodeArgs& args);
void launch_sample(const PthrunCudaSampleArgs& args);

}  // namespace pthrun::kernels
