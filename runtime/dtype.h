// Element types, named as PyTorch names them ("float32", "bfloat16", ...).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pthrun {

enum class DType : uint8_t { f32, f16, bf16, f64, i64, i32, i16, i8, u8, boolean };

inline constexpr DType all_dtypes[] = {DType::f32, DType::f16, DType::bf16, DType::f64, DType::i64,
                                       DType::i32, DType::i16,  DType::i8,   DType::u8,  DType::boolean};

std::size_t itemsize(DType dtype);
bool is_floating(DType dtype);
// PyTorch's name without the "torch." prefix: "float32", "float16", "bool".
const char* dtype_name(DType dtype);
// Short name used on the command line: "f32", "f16", "bf16", ...
const char* dtype_short_name(DType dtype);
// Accepts the PyTorch name, the short name and "fp32"/"fp16"/"half"/"float"/"double" spellings.
std::optional<DType> parse_dtype(std::string_view text);

}  // namespace pthrun
