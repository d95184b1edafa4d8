// The scanner for GPT-2's pre-tokenizer pattern; the header states the pattern.
//
// At each position the alternatives are tried in the pattern's order, and each reduces to a
// test on at most two characters followed by a greedy run:
//   1. an apostrophe followed by s, t, re, ve, m, ll or d (lower case only): that contraction;
//   2-4. an optional ' ' (U+0020 only) and then a run of letters, of numbers, or of "other"
//      characters: the class of the first character after the space picks the alternative;
//   5. \s+(?!\S): a run of whitespace, less its last character when a non-space follows it
//      (that character may then start " word"); a run that ends the text is taken whole;
//   6. \s+: what is left, a single whitespace character before a non-space.
#include "model/pretokenizer.h"

namespace pthrun {

std::size_t Pretokenizer::run_end(std::size_t pos, CharClass cls) const {
  while (pos < text_.size()) {
    Utf8Char c = utf8_char_at(text_, pos);
    if (c.cls != cls) break;
    pos += c.nbytes;
  }
  return pos;
}

std::size_t Pretokenizer::whitespace_end(std::size_t pos) const {
  const std::size_t start = pos;
  std::size_t last_start = pos;  // where the run's last character begins
  while (pos < text_.size()) {
    Utf8Char c = utf8_char_at(text_, pos);
    if (c.cls != CharClass::space) break;
    last_start = pos;
    pos += c.nbytes;
  }
  if (pos == text_.size()) return pos;          // (?!\S) holds at the end of the text
  return last_start > start ? last_start : pos;  // give the last one back, or alternative 6
}

// The end of a contraction at pos (an apostrophe), or 0 when none starts there.
std::size_t Pretokenizer::contraction_end(std::size_t pos) const {
  std::string_view rest = text_.substr(pos + 1);
  if (rest.empty()) return 0;
  switch (rest[0]) {
    case 's': case 't': case 'm': case 'd': return pos + 2;
    default: break;
  }
  if (rest.starts_with("re") || rest.starts_with("ve") || rest.starts_with("ll")) return pos + 3;
  return 0;
}

std::string_view Pretokenizer::next() {
  const std::size_t start = pos_;
  if (start >= text_.size()) return {};
  const Utf8Char c = utf8_char_at(text_, start);
  std::size_t end = 0;
  if (c.cp == '\'') end = contraction_end(start);
  if (end == 0 && c.cp == ' ' && start + 1 < text_.size()) {
    const Utf8Char after = utf8_char_at(text_, start + 1);
    if (after.cls != CharClass::space) end = run_end(start + 1 + after.nbytes, after.cls);
  }
  if (end == 0) {
    end = c.cls == CharClass::space ? whitespace_end(start) : run_end(start + c.nbytes, c.cls);
  }
  pos_ = end;
  return text_.substr(start, end - start);
}

std::vector<std::string_view> pretokenize(std::string_view text) {
  std::vector<std::string_view> pieces;
  Pretokenizer scanner(text);
  for (std::string_view piece = scanner.next(); !piece.empty(); piece = scanner.next()) pieces.push_back(piece);
  return pieces;
}

}  // namespace pthrun
