// UTF-8, the small parts several places need: encoding a code point, and the length of the valid
// (shortest-form, non-surrogate) sequence a string starts with.
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

}  // namespace pthrun
