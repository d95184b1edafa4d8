#include "runtime/dtype.h"

#include "runtime/error.h"

namespace pthrun {

namespace {

struct DTypeInfo {
  DType dtype;
  std::size_t itemsize;
  bool floating;
  const char* name;
  const char* short_name;
};

// Indexed by the enum's value.
constexpr DTypeInfo infos[] = {
    {DType::f32, 4, true, "float32", "f32"},   {DType::f16, 2, true, "float16", "f16"},
    {DType::bf16, 2, true, "bfloat16", "bf16"}, {DType::f64, 8, true, "float64", "f64"},
    {DType::i64, 8, false, "int64", "i64"},     {DType::i32, 4, false, "int32", "i32"},
    {DType::i16, 2, false, "int16", "i16"},     {DType::i8, 1, false, "int8", "i8"},
    {DType::u8, 1, false, "uint8", "u8"},       {DType::boolean, 1, false, "bool", "bool"},
};

const DTypeInfo& info(DType dtype) {
  auto index = static_cast<std::size_t>(dtype);
  PTHRUN_ASSERT(index < std::size(infos) && infos[index].dtype == dtype);
  return infos[index];
}

}  // namespace

std::size_t itemsize(DType dtype) { return info(dtype).itemsize; }
bool is_floating(DType dtype) { return info(dtype).floating; }
const char* dtype_name(DType dtype) { return info(dtype).name; }
const char* dtype_short_name(DType dtype) { return info(dtype).short_name; }

std::optional<DType> parse_dtype(std::string_view text) {
  for (const DTypeInfo& i : infos)
    if (text == i.name || text == i.short_name) return i.dtype;
  if (text == "fp32" || text == "float") return DType::f32;
  if (text == "fp16" || text == "half") return DType::f16;
  if (text == "double" || text == "fp64") return DType::f64;
  return std::nullopt;
}

}  // namespace pthrun
