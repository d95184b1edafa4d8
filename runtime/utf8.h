// UTF-8, the small parts several places need: encoding and decoding a code point, the length of
// the valid (shortest-form, non-surrogate) sequence a string starts with, and the code points
// that must not reach a terminal unescaped.
//
//   std::string s;
//   append_utf8(s, U'é');                     // "\xc3\xa9"
//   std::size_t n = utf8_sequence_length(s);  // 2; 0 when s does not start with valid UTF-8
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pthrun {

void append_utf8(std::string& out, char32_t code_point);
std::size_t utf8_sequence_length(std::string_view text);
// The code point of the valid sequence of `length` bytes that `text` starts with.
char32_t decode_utf8(std::string_view text, std::size_t length);
// Code points that are valid text but change how a terminal lays out what follows without
// being visible: C1 controls, line and paragraph separators, bidirectional marks, embeddings,
// overrides and isolates ("Trojan Source").
bool is_invisible_control(char32_t code_point);

}  // namespace pthrun
