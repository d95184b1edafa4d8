// GPT-2's pre-tokenizer: splits text into the pieces that BPE then encodes one by one.
//
//   Pretokenizer pieces("Hello world!  How's it");
//   for (std::string_view p = pieces.next(); !p.empty(); p = pieces.next()) ...
//   // "Hello" " world" "!" " " " How" "'s" " it"
//
// The pieces are exactly what OpenAI's encoder gets from the `regex` module with the pattern
//
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// (findall: at each position the first alternative that matches wins, quantifiers greedy),
// implemented as a scanner over code points rather than with a regex library: it is one
// left-to-right pass with no backtracking, and it takes any bytes, where the pattern needs
// valid text. Bytes of invalid UTF-8 count as "other" characters (see unicode_classes.h), so
// they gather with punctuation. The pieces tile the text: concatenated, they are the input.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "model/unicode_classes.h"

namespace pthrun {

class Pretokenizer {
 public:
  explicit Pretokenizer(std::string_view text) : text_(text) {}
  // The next piece (a view into the text), or an empty view after the last one.
  std::string_view next();

 private:
  std::size_t run_end(std::size_t pos, CharClass cls) const;
  std::size_t whitespace_end(std::size_t pos) const;
  std::size_t contraction_end(std::size_t pos) const;

  std::string_view text_;
  std::size_t pos_ = 0;
};

// All pieces at once (tests, tools).
std::vector<std::string_view> pretokenize(std::string_view text);

}  // namespace pthrun
