// Errors and the quoting of text from files: every error is one line of valid UTF-8 naming its
// file and entry, and no byte a file holds can forge a line or drive the terminal.
#include <doctest/doctest.h>

#include "runtime/error.h"
#include "runtime/quote.h"
#include "runtime/utf8.h"

using namespace pthrun;

namespace {

// Valid UTF-8 without control characters or invisible layout controls.
bool is_clean_line(std::string_view text) {
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t n = utf8_sequence_length(text.substr(pos));
    if (n == 0) return false;
    const char32_t cp = decode_utf8(text.substr(pos), n);
    if (cp < 0x20 || cp == 0x7f || is_invisible_control(cp)) return false;
    pos += n;
  }
  return true;
}

}  // namespace

TEST_CASE("printable and quoted escape what a terminal would act on") {
  CHECK(printable("trf_blocks.0.norm1.scale") == "trf_blocks.0.norm1.scale");
  CHECK(printable("a\nerror: forged") == "a\\nerror: forged");
  CHECK(printable(std::string("nul\0cut", 7)) == "nul\\x00cut");
  CHECK(printable("\x1b]0;pwned\x07\x1b[2J") == "\\x1b]0;pwned\\a\\x1b[2J");
  CHECK(printable("tab\tcr\rdel\x7f") == "tab\\tcr\\rdel\\x7f");
  CHECK(printable("nor\xd3"
                  "2") == "nor\\xd32");                                        // a flipped byte: not UTF-8
  CHECK(printable("\xc0\xaf \xed\xa0\x80") == "\\xc0\\xaf \\xed\\xa0\\x80");   // overlong, surrogate
  CHECK(printable("caf\xc3\xa9 \xe2\x82\xac") == "caf\xc3\xa9 \xe2\x82\xac");  // valid text stays
  CHECK(printable("\xc2\x9b"
                  "2J") == "\\u009b2J");  // C1 CSI
  CHECK(printable("abc\xe2\x80\xae"
                  "fdp.exe") == "abc\\u202efdp.exe");  // a bidi override
  CHECK(printable("a\\b") == "a\\b");
  CHECK(in_quotes("it's a\\b") == "'it\\'s a\\\\b'");
  // Idempotent: an escaped text is printed as it is.
  const std::string once = printable("x\n\xff\x1b\xe2\x80\xae");
  CHECK(printable(once) == once);
}

TEST_CASE("long text is cut, whole characters only, with its size") {
  const std::string long_name(1 << 20, 'x');
  const std::string q = in_quotes(long_name);
  CHECK(q.size() < 300);
  CHECK(q == "'" + std::string(kQuoteLimit, 'x') + "'... (1048576 bytes)");
  CHECK(printable(long_name, 4) == "xxxx... (1048576 bytes)");
  CHECK(printable("\xe2\x82\xac\xe2\x82\xac", 4) == "\xe2\x82\xac... (6 bytes)");  // not split inside a character
  CHECK(printable(std::string(100, '\x1b'), 2) == "\\x1b\\x1b... (100 bytes)");
}

TEST_CASE("an error carries its file and entry, added on the way out") {
  const Error plain("storage size overflows: 4611686018427387904 * 4");
  CHECK(std::string(plain.what()) == "storage size overflows: 4611686018427387904 * 4");
  CHECK(plain.context().file.empty());

  const Error placed({"model.pth", "entry archive/data.pkl"}, "truncated");
  CHECK(std::string(placed.what()) == "model.pth: entry archive/data.pkl: truncated");

  // with_context fills in what is missing and keeps the error's own type.
  try {
    with_context({"model.pth"}, [] { throw OutOfMemory(8, "out of memory"); });
  } catch (const OutOfMemory& e) {
    CHECK(std::string(e.what()) == "model.pth: out of memory");
    CHECK(e.requested_bytes() == 8);
  }
  // An entry is added inside its file; an error about another file keeps its own.
  try {
    with_context({"model.pth"}, [] {
      with_context({"model.pth", "tensor 'w'"}, [] { throw Error({"model.pth"}, "bad shape"); });
    });
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "model.pth: tensor 'w': bad shape");
  }
  try {
    with_context({"folder", "file x"}, [] { throw Error({"folder/x.pth"}, "bad"); });
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "folder/x.pth: bad");
  }
}

TEST_CASE("what() is one clean line of bounded length, whatever the message holds") {
  const Error forged({"dir/evil\nerror: fake.pth"}, "name 'a\x1b[2J\xff' and\nerror: second line");
  const std::string text = forged.what();
  CHECK(is_clean_line(text));
  CHECK(text.find('\n') == std::string::npos);
  CHECK(text == "dir/evil\\nerror: fake.pth: name 'a\\x1b[2J\\xff' and\\nerror: second line");
  const Error huge(std::string(10 << 20, '9'));
  CHECK(std::string(huge.what()).size() < 9000);
  CHECK(is_clean_line(huge.what()));
}
