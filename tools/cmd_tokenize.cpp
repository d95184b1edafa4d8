// pthrun tokenize: text to GPT-2 token ids, and ids back to text.
//
//   pthrun tokenize "Hello, world"              [15496, 11, 995]
//   pthrun tokenize --file notes.txt            the file's bytes as they are ("-": stdin)
//   pthrun tokenize --decode 15496,11,995       Hello, world
//
// Decoded text is written as raw bytes with nothing added (no newline), so that
// `pthrun tokenize --decode "$(pthrun tokenize --file f)"` gives back f exactly.
#include <cctype>
#include <charconv>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "tools/cli.h"

namespace pthrun::cli {

namespace {

std::string read_stdin() {
  std::string text;
  char buffer[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, stdin)) > 0) text.append(buffer, n);
  PTHRUN_CHECK(!std::ferror(stdin), "cannot read standard input");
  return text;
}

void write_stdout(std::string_view bytes) {
  PTHRUN_CHECK(std::fwrite(bytes.data(), 1, bytes.size(), stdout) == bytes.size() && std::fflush(stdout) == 0,
               "cannot write to standard output");
}

// "15496,11,995" or the JSON array that encoding prints, "[15496, 11, 995]".
std::vector<int64_t> parse_ids(std::string_view text) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
  };
  text = trim(text);
  if (text.starts_with('[') && text.ends_with(']')) text = trim(text.substr(1, text.size() - 2));
  if (text.empty()) return {};
  return parse_int_list(text, "--decode");
}

struct TokenizeArgs {
  std::optional<std::string> text, file, decode_ids, vocab_dir;
  bool special = false;
};

int run_tokenize(const TokenizeArgs& args) {
  const auto& decode_ids = args.decode_ids;
  const auto& file = args.file;
  const bool has_text = args.text.has_value();
  if (decode_ids) {
    if (has_text || file || args.special)
      throw UsageError("--decode takes only ids (and --vocab): no TEXT, --file or --special with it");
  } else if (has_text == file.has_value()) {
    throw UsageError(has_text ? "give TEXT or --file F, not both" : "missing TEXT (or --file F)");
  }
  const auto& vocab_dir = args.vocab_dir;
  Tokenizer tokenizer = Tokenizer::load(vocab_dir ? *vocab_dir : default_vocab_dir());

  if (decode_ids) {
    std::vector<TokenId> ids;
    for (int64_t id : parse_ids(*decode_ids)) {
      tokenizer.check_id(id);
      ids.push_back(static_cast<TokenId>(id));
    }
    write_stdout(tokenizer.decode(ids));
    return 0;
  }
  const std::string text = !file ? *args.text : *file == "-" ? read_stdin() : read_file(*file);
  const std::vector<TokenId> ids = tokenizer.encode(text, args.special ? EndOfText::special : EndOfText::as_text);
  std::string out = "[";
  char number[16];
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ", ";
    out.append(number, std::to_chars(number, number + sizeof number, ids[i]).ptr);
  }
  out += "]\n";
  write_stdout(out);
  return 0;
}

}  // namespace

extern const Command tokenize_command = {
    "tokenize", "Encode text as GPT-2 token ids, or decode ids",
    [](CLI::App& app) {
      auto args = std::make_shared<TokenizeArgs>();
      app.add_option("TEXT", args->text, "the text to encode");
      app.add_option("-f,--file", args->file, "encode the bytes of file F instead of TEXT (\"-\": standard input)")
          ->type_name("F");
      app.add_option("-d,--decode", args->decode_ids, "decode comma-separated ids (or a JSON array) and write the bytes")
          ->type_name("IDS");
      app.add_flag("--special", args->special, "encode <|endoftext|> as the special token, not as text");
      app.add_option("--vocab", args->vocab_dir,
                     "encoder.json + vocab.bpe or vocab.json + merges.txt (default: the bundled GPT-2 files)")
          ->type_name("DIR");
      return [args] { return run_tokenize(*args); };
    },
    "Prints the ids as a JSON array. Any bytes encode, including invalid UTF-8, and decoding gives\n"
    "them back exactly. <|endoftext|> is plain text unless --special is given, as in OpenAI's\n"
    "encoder. Without --vocab the files come from $PTHRUN_VOCAB_DIR, an installed copy, or the\n"
    "source tree's third_party/gpt2."};

}  // namespace pthrun::cli
