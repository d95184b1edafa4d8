// GPT-2's pre-tokenizer and what it stands on: the Unicode class table and the UTF-8 reader.
// Expected pieces here are derived by hand from the pattern's semantics (first alternative
// that matches, greedy runs, \s+(?!\S) giving back one character); test_tokenizer.cpp checks
// the same scanner against the `regex` module's own findall on 732 more texts.
#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "model/pretokenizer.h"
#include "model/unicode_classes.h"

using namespace pthrun;

namespace {

using Pieces = std::vector<std::string>;

Pieces split(std::string_view text) {
  Pieces out;
  for (std::string_view piece : pretokenize(text)) out.emplace_back(piece);
  return out;
}

}  // namespace

TEST_CASE("contractions: lower case only, and before anything else") {
  CHECK(split("it's") == Pieces{"it", "'s"});
  CHECK(split("we'll've") == Pieces{"we", "'ll", "'ve"});
  CHECK(split("'sup") == Pieces{"'s", "up"});  // 's wins over a longer letter run
  CHECK(split("they'RE") == Pieces{"they", "'", "RE"});
  CHECK(split("I'M") == Pieces{"I", "'", "M"});
  CHECK(split("'s'S's") == Pieces{"'s", "'", "S", "'s"});
  CHECK(split("''s") == Pieces{"''", "s"});   // the run of "other" takes both apostrophes
  CHECK(split(" 's") == Pieces{" '", "s"});   // a space then "other": no contraction
  CHECK(split("'x") == Pieces{"'", "x"});
  CHECK(split("'") == Pieces{"'"});
  CHECK(split("'r") == Pieces{"'", "r"});
  CHECK(split("\xE2\x80\x99s") == Pieces{"\xE2\x80\x99", "s"});  // U+2019 is not an apostrophe here
}

TEST_CASE("runs of letters, numbers and other, each with at most one leading space") {
  CHECK(split("Hello world!") == Pieces{"Hello", " world", "!"});
  CHECK(split("abc123def") == Pieces{"abc", "123", "def"});
  CHECK(split(" 123 abc") == Pieces{" 123", " abc"});
  CHECK(split("a... b") == Pieces{"a", "...", " b"});
  CHECK(split(" ...!?") == Pieces{" ...!?"});
  CHECK(split("3.14159") == Pieces{"3", ".", "14159"});
  CHECK(split("foo_bar") == Pieces{"foo", "_", "bar"});
  CHECK(split("caf\xC3\xA9 na\xC3\xAFve") == Pieces{"caf\xC3\xA9", " na\xC3\xAFve"});
  CHECK(split("e\xCC\x81") == Pieces{"e", "\xCC\x81"});          // a combining mark is not a letter
  CHECK(split("x\xD9\xA3") == Pieces{"x", "\xD9\xA3"});          // U+0663, an Arabic-Indic digit
  CHECK(split("x\xC2\xB2") == Pieces{"x", "\xC2\xB2"});          // U+00B2 superscript two: \p{N}
  CHECK(split("\xE6\x97\xA5\xE6\x9C\xAC") == Pieces{"\xE6\x97\xA5\xE6\x9C\xAC"});  // CJK: letters
  CHECK(split("a\xF0\x9F\x9A\x80\xF0\x9F\x94\xA5!") == Pieces{"a", "\xF0\x9F\x9A\x80\xF0\x9F\x94\xA5!"});
}

TEST_CASE("whitespace: \\s+(?!\\S) leaves the last character for the next piece") {
  CHECK(split("Hello world!  How's it") == Pieces{"Hello", " world", "!", " ", " How", "'s", " it"});
  CHECK(split("a   b") == Pieces{"a", "  ", " b"});
  CHECK(split("a\n\nb") == Pieces{"a", "\n", "\n", "b"});  // the last \n stands alone (alternative \s+)
  CHECK(split("\n  hello") == Pieces{"\n ", " hello"});
  CHECK(split("x\t y") == Pieces{"x", "\t", " y"});
  CHECK(split("x \ty") == Pieces{"x", " ", "\t", "y"});
  CHECK(split("trailing   ") == Pieces{"trailing", "   "});  // a run that ends the text stays whole
  CHECK(split("x \n") == Pieces{"x", " \n"});
  CHECK(split(" ") == Pieces{" "});
  CHECK(split("   ") == Pieces{"   "});
  CHECK(split("\r\n\r\nEnd") == Pieces{"\r\n\r", "\n", "End"});
  CHECK(split("x\xC2\xA0y") == Pieces{"x", "\xC2\xA0", "y"});        // U+00A0 is \s but not ' '
  CHECK(split("x \xC2\xA0y") == Pieces{"x", " ", "\xC2\xA0", "y"});
  CHECK(split("x\xE3\x80\x80 y") == Pieces{"x", "\xE3\x80\x80", " y"});  // U+3000
  CHECK(split("a\x1C" "b") == Pieces{"a", "\x1C", "b"});             // U+001C: isspace() but not \s
  CHECK(split(" \x1C") == Pieces{" \x1C"});
  CHECK(split("").empty());
}

TEST_CASE("invalid UTF-8: each bad byte is an 'other' character") {
  CHECK(split("a\xFF" "b") == Pieces{"a", "\xFF", "b"});
  CHECK(split(" \xFF\xFE!") == Pieces{" \xFF\xFE!"});
  CHECK(split("\xE2\x82x") == Pieces{"\xE2\x82", "x"});         // a truncated sequence
  CHECK(split("a\xE2\x82\xAC" "b") == Pieces{"a", "\xE2\x82\xAC", "b"});  // the whole sign, valid
  CHECK(split("\xC0\xAFz") == Pieces{"\xC0\xAF", "z"});         // overlong '/'
  CHECK(split("\xED\xA0\x80z") == Pieces{"\xED\xA0\x80", "z"});  // an encoded surrogate
  CHECK(split("\xC3") == Pieces{"\xC3"});                       // cut at the end of the text
  CHECK(split("\xC3 x") == Pieces{"\xC3", " x"});
}

TEST_CASE("pieces tile any byte string") {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 3000; ++round) {
    std::string text(rng() % 64, '\0');
    for (char& c : text) c = static_cast<char>(rng() % 4 == 0 ? " \n\t'"[rng() % 4] : rng() % 256);
    std::string joined;
    for (std::string_view piece : pretokenize(text)) {
      REQUIRE_FALSE(piece.empty());
      joined += piece;
    }
    REQUIRE(joined == text);
  }
}

TEST_CASE("the class table: sorted, disjoint, and right on known code points") {
  CHECK(std::strcmp(unicode_classes_version, "14.0.0") == 0);
  REQUIRE(unicode_class_range_count > 700);
  for (std::size_t i = 0; i < unicode_class_range_count; ++i) {
    const CodepointRange& r = unicode_class_ranges[i];
    REQUIRE(r.first <= r.last);
    REQUIRE(r.cls != CharClass::other);
    if (i) REQUIRE(unicode_class_ranges[i - 1].last < r.first);
  }
  CHECK(char_class(U'A') == CharClass::letter);
  CHECK(char_class(U'z') == CharClass::letter);
  CHECK(char_class(U'0') == CharClass::number);
  CHECK(char_class(U' ') == CharClass::space);
  CHECK(char_class(U'\t') == CharClass::space);
  CHECK(char_class(U'\v') == CharClass::space);
  CHECK(char_class(U'_') == CharClass::other);
  CHECK(char_class(U'\'') == CharClass::other);
  CHECK(char_class(0x1C) == CharClass::other);
  CHECK(char_class(0x85) == CharClass::space);      // NEL
  CHECK(char_class(0xA0) == CharClass::space);      // no-break space
  CHECK(char_class(0xAA) == CharClass::letter);     // ª, Lo
  CHECK(char_class(0xB2) == CharClass::number);     // ², No
  CHECK(char_class(0xB5) == CharClass::letter);     // µ, Ll
  CHECK(char_class(0x301) == CharClass::other);     // combining acute, Mn
  CHECK(char_class(0x1C5) == CharClass::letter);    // ǅ, Lt
  CHECK(char_class(0x2B0) == CharClass::letter);    // ʰ, Lm
  CHECK(char_class(0x180E) == CharClass::other);    // no longer White_Space since Unicode 6.3
  CHECK(char_class(0x2028) == CharClass::space);
  CHECK(char_class(0x216B) == CharClass::number);   // Ⅻ, Nl
  CHECK(char_class(0x3000) == CharClass::space);
  CHECK(char_class(0x3007) == CharClass::number);   // 〇, Nl
  CHECK(char_class(0x4E00) == CharClass::letter);
  CHECK(char_class(0xFF10) == CharClass::number);   // fullwidth 0
  CHECK(char_class(0x1D7CE) == CharClass::number);  // mathematical bold 0
  CHECK(char_class(0x1F600) == CharClass::other);   // emoji
  CHECK(char_class(0x2A6DF) == CharClass::letter);  // the end of CJK extension B
  CHECK(char_class(0xE000) == CharClass::other);    // private use
  CHECK(char_class(0xD800) == CharClass::other);    // surrogate
  CHECK(char_class(0x10FFFF) == CharClass::other);
  CHECK(char_class(0x110000) == CharClass::other);
}

TEST_CASE("the UTF-8 reader: shortest forms of scalar values only") {
  struct Case {
    const char* bytes;
    char32_t cp;
    uint32_t nbytes;
    bool valid;
  };
  const Case cases[] = {
      {"\x7F", 0x7F, 1, true},
      {"\xC2\x80", 0x80, 2, true},
      {"\xDF\xBF", 0x7FF, 2, true},
      {"\xE0\xA0\x80", 0x800, 3, true},
      {"\xED\x9F\xBF", 0xD7FF, 3, true},
      {"\xEE\x80\x80", 0xE000, 3, true},
      {"\xEF\xBF\xBF", 0xFFFF, 3, true},
      {"\xF0\x90\x80\x80", 0x10000, 4, true},
      {"\xF4\x8F\xBF\xBF", 0x10FFFF, 4, true},
      {"\x80", 0x80, 1, false},              // a lone continuation byte
      {"\xC0\x80", 0xC0, 1, false},          // overlong
      {"\xC1\xBF", 0xC1, 1, false},          // overlong
      {"\xE0\x9F\xBF", 0xE0, 1, false},      // overlong
      {"\xED\xA0\x80", 0xED, 1, false},      // surrogate
      {"\xF0\x8F\xBF\xBF", 0xF0, 1, false},  // overlong
      {"\xF4\x90\x80\x80", 0xF4, 1, false},  // above U+10FFFF
      {"\xF5\x80\x80\x80", 0xF5, 1, false},
      {"\xFF", 0xFF, 1, false},
      {"\xE2\x82", 0xE2, 1, false},          // truncated
      {"\xE2\x82" "A", 0xE2, 1, false},      // interrupted
  };
  for (const Case& c : cases) {
    CAPTURE(c.bytes);
    const Utf8Char got = utf8_char_at(c.bytes, 0);
    CHECK(got.cp == c.cp);
    CHECK(got.nbytes == c.nbytes);
    CHECK(got.valid == c.valid);
    if (!c.valid) CHECK(got.cls == CharClass::other);
  }
  CHECK(utf8_char_at("x\xC3\xA9", 1).cls == CharClass::letter);
}
