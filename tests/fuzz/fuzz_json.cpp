// libFuzzer target: the bounded JSON reader (safetensors headers, config.json, vocabularies,
// and HTTP request bodies to come). The first byte picks the limits, so that each limit is hit
// while parsing; a value that parses must survive dump() and parse again unchanged, typed reads
// of its members must give a value or a clean pthrun::Error, and every message is one clean line.
// Built and run by tools/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_checks.h"
#include "runtime/error.h"
#include "runtime/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const uint8_t knobs = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  pthrun::JsonLimits limits;
  limits.max_depth = 1 + (knobs & 15);
  limits.max_items = knobs & 16 ? 8 : SIZE_MAX;
  limits.max_members = knobs & 32 ? 16 : SIZE_MAX;
  limits.max_string_bytes = knobs & 64 ? 32 : limits.max_string_bytes;
  limits.memory_base = knobs & 128 ? 4096 : limits.memory_base;
  try {
    const pthrun::JsonValue value = pthrun::parse_json(text, limits);
    const std::string dumped = value.dump();
    if (pthrun::parse_json(dumped) != value) std::abort();  // a parsed value dumps and reads back
    if (value.is_object()) {
      for (const auto& [key, member] : value.items()) {
        for (auto read : {+[](const pthrun::JsonValue& o, std::string_view k) { (void)pthrun::json_int(o, k); },
                          +[](const pthrun::JsonValue& o, std::string_view k) { (void)pthrun::json_uint(o, k); },
                          +[](const pthrun::JsonValue& o, std::string_view k) { (void)pthrun::json_string(o, k); }}) {
          try {
            read(value, key);
          } catch (const pthrun::Error& e) {
            pthrun::fuzz::require_clean_line(e.what());
          }
        }
        pthrun::JsonWriter out;
        out.begin_object().key(key).value(member.is_string() ? member.get<std::string>() : key).end_object();
        pthrun::fuzz::require_valid_json(out.text());
      }
    }
  } catch (const pthrun::Error& e) {
    pthrun::fuzz::require_clean_line(e.what());
  }
  return 0;
}
