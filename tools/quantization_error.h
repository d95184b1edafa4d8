// The error that bf16, f16 and int8 storage (groups of 32, 64, 128 inputs, or one scale per
// output channel) adds to a checkpoint's matrix products, through the CPU kernels that run them:
// for every matrix, ||x W_stored - x W|| / ||x W|| over `rows` rows of standard normal x, then
// over all matrices together. Trained weights, unlike random ones, have the outliers that
// quantization must cope with (tools/train_tiny_gpt2.py makes such a checkpoint).
//
//   print_quantization_error("model.pth", 64);   // a table on stdout; `kernel-bench --quantization-error`
#pragma once

#include <cstdint>
#include <string>

namespace pthrun::cli {

int print_quantization_error(const std::string& checkpoint_path, int64_t rows);

}  // namespace pthrun::cli
