// Writing a randomly initialised GPT-2 checkpoint: what `pthrun init` and `pthrun demo` do.
#pragma once

#include <cstdint>
#include <string>

#include "model/config.h"
#include "model/state_dict_layout.h"
#include "runtime/dtype.h"

namespace pthrun::cli {

// A GPT-2 of `preset`'s size with the given vocabulary, context and layers (0: the preset's).
// The book's GPTModel has its own output head; Hugging Face's is tied to wte.
Gpt2Config random_config(const Gpt2Preset& preset, Naming naming, int64_t vocab, int64_t context, int64_t layers);

// Writes it to `path` (via a temporary file) in `naming` and `dtype`.
void write_random_checkpoint(const Gpt2Config& config, Naming naming, DType dtype, uint64_t seed,
                             const std::string& path);

}  // namespace pthrun::cli
