// Code points and their classes for GPT-2's pre-tokenizer: letter (\p{L}), number (\p{N}),
// White_Space (\s) and everything else.
//
//   CharClass c = char_class(U'é');                  // CharClass::letter
//   Utf8Char ch = utf8_char_at("\xC3\xA9t\xE9", 0);   // {U'é', 2 bytes, valid}
//   utf8_char_at("\xC3\xA9t\xE9", 3);                 // {0xE9, 1 byte, not valid}: a lone byte
//
// The class table is generated from the Unicode character database by
// tools/gen_unicode_classes.py into unicode_class_table.cpp (sorted, disjoint ranges);
// char_class() answers ASCII from a small table and the rest by binary search.
//
// Invalid UTF-8 is not an error: a byte that does not start a complete, shortest-form
// sequence for a scalar value (no surrogates, at most U+10FFFF) is a one-byte character of
// class "other". That is what lets the tokenizer encode any byte string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pthrun {

enum class CharClass : uint8_t { other, letter, number, space };

struct CodepointRange {
  char32_t first, last;  // inclusive
  CharClass cls;
};

// The Unicode version the table was generated from, e.g. "14.0.0".
extern const char unicode_classes_version[];
extern const CodepointRange unicode_class_ranges[];
extern const std::size_t unicode_class_range_count;

// Values above U+10FFFF and surrogates are "other".
CharClass char_class(char32_t cp);

struct Utf8Char {
  char32_t cp;          // the code point; for an invalid byte, the byte's value
  uint32_t nbytes;      // 1..4
  bool valid;           // false: a byte of invalid UTF-8, class "other"
  CharClass cls;
};

// The character starting at text[pos]; pos < text.size().
Utf8Char utf8_char_at(std::string_view text, std::size_t pos);

}  // namespace pthrun
