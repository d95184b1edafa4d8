// libFuzzer target: the GPT-2 tokenizer on arbitrary bytes, against the promises of
// model/tokenizer.h:
//   - any bytes encode, in both EndOfText modes, to ids that decode back to the same bytes;
//   - the merge cache changes nothing (a second tokenizer encodes with it off);
//   - a list of ids decodes exactly when every id is in [0, V), to the tokens' bytes joined,
//     and otherwise throws pthrun::Error.
// A broken promise aborts with a line saying which, so libFuzzer keeps the input.
// The cached tokenizer keeps its cache from one input to the next, as a long-running process
// would; comparing with the uncached one shows at once any id the cache got wrong.
//
// The bundled vocabulary is read once, from PTHRUN_FUZZ_VOCAB_DIR (tests/fuzz/CMakeLists.txt).
// Built and run by tools/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer.h"
#include "runtime/error.h"

namespace {

using pthrun::EndOfText;
using pthrun::str;
using pthrun::TokenId;
using pthrun::Tokenizer;

Tokenizer& cached() {
  static Tokenizer tokenizer = Tokenizer::load(PTHRUN_FUZZ_VOCAB_DIR);
  return tokenizer;
}

Tokenizer& uncached() {
  static Tokenizer tokenizer = [] {
    Tokenizer copy = cached();
    copy.set_merge_cache(false);
    return copy;
  }();
  return tokenizer;
}

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "fuzz_tokenizer: %s\n", message.c_str());
  std::abort();
}

std::size_t first_difference(std::string_view a, std::string_view b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

void check_round_trip(std::string_view text, EndOfText eot) {
  const std::vector<TokenId> ids = cached().encode(text, eot);
  if (uncached().encode(text, eot) != ids) fail(str("the merge cache changed the ids of ", text.size(), " bytes"));
  const std::string decoded = cached().decode(ids);  // an id out of range throws: a finding
  if (decoded != text)
    fail(str("decode(encode(x)) != x for ", text.size(), " bytes; first difference at byte ",
             first_difference(decoded, text)));
}

// Ids from the bytes after the first: 16 bits each (mostly in the vocabulary, so long lists
// decode), or 32 bits each (any int32, negatives included), as the first byte's low bit says.
std::vector<TokenId> ids_from(const uint8_t* data, std::size_t size) {
  std::vector<TokenId> ids;
  if (size == 0) return ids;
  const std::size_t width = (data[0] & 1) ? 4 : 2;
  for (std::size_t at = 1; at + width <= size; at += width) {
    if (width == 2) {
      ids.push_back(static_cast<TokenId>(data[at] | (data[at + 1] << 8)));
    } else {
      uint32_t bits = 0;
      std::memcpy(&bits, data + at, 4);
      ids.push_back(static_cast<TokenId>(bits));
    }
  }
  return ids;
}

void check_decode(const std::vector<TokenId>& ids) {
  const Tokenizer& tok = cached();
  bool all_valid = true;
  std::string expected;
  for (TokenId id : ids) {
    if (id < 0 || id >= tok.vocab_size()) {
      all_valid = false;
      break;
    }
    expected += tok.token_bytes(id);
  }
  try {
    const std::string decoded = tok.decode(ids);
    if (!all_valid) fail(str("a list of ", ids.size(), " ids with one outside the vocabulary decoded"));
    if (decoded != expected)
      fail(str("decode differs from the tokens' bytes at byte ", first_difference(decoded, expected)));
  } catch (const pthrun::Error& e) {
    if (all_valid) fail(str("valid ids failed to decode: ", e.what()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_round_trip(text, EndOfText::as_text);
  check_round_trip(text, EndOfText::special);
  check_decode(ids_from(data, size));
  return 0;
}
