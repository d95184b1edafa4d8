// char_class() over the generated table, and a strict UTF-8 reader that never fails.
#include "model/unicode_classes.h"

#include <algorithm>
#include <array>

namespace pthrun {

namespace {

CharClass search_table(char32_t cp) {
  const CodepointRange* begin = unicode_class_ranges;
  const CodepointRange* end = unicode_class_ranges + unicode_class_range_count;
  // The first range whose last code point is not below cp.
  const CodepointRange* range =
      std::lower_bound(begin, end, cp, [](const CodepointRange& r, char32_t value) { return r.last < value; });
  return range != end && range->first <= cp ? range->cls : CharClass::other;
}

// ASCII is most of most text: its classes come from the same table, looked up once.
const std::array<CharClass, 128> ascii_classes = [] {
  std::array<CharClass, 128> classes{};
  for (char32_t cp = 0; cp < 128; ++cp) classes[cp] = search_table(cp);
  return classes;
}();

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

}  // namespace

CharClass char_class(char32_t cp) {
  if (cp < 128) return ascii_classes[cp];
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return CharClass::other;
  return search_table(cp);
}

Utf8Char utf8_char_at(std::string_view text, std::size_t pos) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data()) + pos;
  const std::size_t available = text.size() - pos;
  const unsigned char lead = bytes[0];
  if (lead < 0x80) return {lead, 1, true, ascii_classes[lead]};

  // The lead byte fixes the length and the allowed range of the second byte; the narrower
  // ranges after E0, ED, F0 and F4 exclude overlong forms, surrogates and values past U+10FFFF.
  uint32_t nbytes = 0;
  unsigned char second_min = 0x80, second_max = 0xBF;
  char32_t cp = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    nbytes = 2, cp = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    nbytes = 3, cp = lead & 0x0F;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    nbytes = 4, cp = lead & 0x07;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  }
  const Utf8Char invalid{lead, 1, false, CharClass::other};
  if (nbytes == 0 || available < nbytes || bytes[1] < second_min || bytes[1] > second_max) return invalid;
  for (uint32_t i = 1; i < nbytes; ++i) {
    if (!is_continuation(bytes[i])) return invalid;
    cp = (cp << 6) | (bytes[i] & 0x3F);
  }
  return {cp, nbytes, true, char_class(cp)};
}

}  // namespace pthrun
