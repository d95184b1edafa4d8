// libFuzzer target: the unpickler on arbitrary bytes. Any input must end in a result or a
// pthrun::Error whose message is one clean line; a crash, a sanitizer report, a hang or a huge
// allocation (fuzz.sh runs with -rss_limit_mb) is a bug. The tree it builds is written as JSON,
// as `inspect --json` does, which must parse back. Built and run by tools/fuzz.sh.
#include <cstddef>
#include <cstdint>

#include "fuzz_checks.h"
#include "loader/pickle.h"
#include "loader/value.h"
#include "runtime/error.h"
#include "runtime/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks which persistent ids are allowed, as the formats do.
  const auto ids = static_cast<pthrun::PersistentIds>(data[0] % 3);
  try {
    const pthrun::Unpickled u = pthrun::unpickle({data + 1, size - 1}, {"fuzz"}, ids);
    pthrun::JsonWriter out;
    pthrun::write_value_json(out, u.root);
    pthrun::fuzz::require_valid_json(out.text());
    (void)pthrun::plain_values(u.root);
  } catch (const pthrun::Error& e) {
    pthrun::fuzz::require_clean_line(e.what());
  }
  return 0;
}
