// Text that came from a file (a tensor name, a zip entry, a key, a file name), made safe to
// print: one line of valid UTF-8 that cannot move the cursor, set a terminal's title or forge
// an `error:` line, and that stays short whatever the file holds.
//
//   printable("a\nb\xff")          // "a\\nb\\xff"
//   in_quotes("it's")              // "'it\\'s'"
//   in_quotes(std::string(1 << 20, 'x'))  // "'xxx…x'... (1048576 bytes)": the first 256 bytes
//
// Escaped, C style: control bytes (\n, \t, \x1b, \x00 ...) and DEL; invalid UTF-8, byte by
// byte (\xff); and the code points that reorder or break lines on a terminal without being
// visible (C1 controls U+0080-U+009F, the bidirectional overrides and isolates, U+2028/2029):
// \u202e. printable() is idempotent (its escapes are printable ASCII), so a whole message
// can be passed through it again as a last line of defence (runtime/error.cpp does).
// in_quotes() also escapes the backslash and the quote, so that the text reads back exactly.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pthrun {

// Input bytes shown before the text is cut short.
constexpr std::size_t kQuoteLimit = 256;

std::string printable(std::string_view text, std::size_t max_bytes = kQuoteLimit);
std::string in_quotes(std::string_view text, std::size_t max_bytes = kQuoteLimit);

}  // namespace pthrun
