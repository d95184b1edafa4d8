// Reads and checks the two files of a byte-level BPE vocabulary (see vocab.h).
#include "model/vocab.h"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string_view>
#include <unordered_map>

#include "model/unicode_classes.h"
#include "runtime/error.h"
#include "runtime/utf8.h"
#include "runtime/file_util.h"
#include "runtime/json.h"

namespace pthrun {

namespace fs = std::filesystem;

namespace {

// GPT-2's files are 1 MB and 0.5 MB; a vocabulary of a million tokens fits too. A file far
// larger is not one, and is not read whole.
constexpr std::size_t kMaxVocabFileBytes = std::size_t(64) << 20;

// GPT-2's byte-level alphabet; every symbol is below U+0100 + 68.
constexpr char32_t alphabet_end = 0x100 + 68;

struct ByteAlphabet {
  std::array<std::string, 256> symbol_of_byte;  // UTF-8
  std::array<int, alphabet_end> byte_of_symbol;  // -1 where no byte maps
};

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet = [] {
    ByteAlphabet a;
    a.byte_of_symbol.fill(-1);
    char32_t next_unprintable = 0x100;
    for (int byte = 0; byte < 256; ++byte) {
      const bool printable = (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
      const char32_t cp = printable ? static_cast<char32_t>(byte) : next_unprintable++;
      a.byte_of_symbol[cp] = byte;
      append_utf8(a.symbol_of_byte[byte], cp);
    }
    return a;
  }();
  return alphabet;
}

// "U+0120"; "0xFF" for a byte.
std::string hex_name(const char* format, char32_t value) {
  char name[16];
  std::snprintf(name, sizeof name, format, static_cast<unsigned>(value));
  return name;
}

// The bytes that a token written in the byte-level alphabet stands for.
std::string token_to_bytes(std::string_view symbol, const std::string& path, TokenId id) {
  const ByteAlphabet& alphabet = byte_alphabet();
  std::string bytes;
  for (std::size_t pos = 0; pos < symbol.size();) {
    const Utf8Char c = utf8_char_at(symbol, pos);
    PTHRUN_CHECK(c.valid && c.cp < alphabet_end && alphabet.byte_of_symbol[c.cp] >= 0, path, ": token ",
                 json_quote(symbol), " (id ", id, ") contains ",
                 c.valid ? hex_name("U+%04X", c.cp) : "the byte " + hex_name("0x%02X", c.cp),
                 ", which is not in GPT-2's byte-level alphabet");
    bytes += static_cast<char>(alphabet.byte_of_symbol[c.cp]);
    pos += c.nbytes;
  }
  return bytes;
}

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using SymbolIds = std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>>;

// An integer literal's value; -1 for anything else ("5.0" included).
int64_t integer_or_minus_one(const JsonValue& value) {
  return value.is_number_integer() && (!value.is_number_unsigned() || value.get<uint64_t>() <= INT64_MAX)
             ? value.get<int64_t>()
             : -1;
}

// encoder.json / vocab.json: {"token": id, ...}.
SymbolIds read_token_ids(const std::string& path, Vocabulary& vocab) {
  const std::string text = read_file(path, kMaxVocabFileBytes);
  const JsonValue doc = with_context({path}, [&] { return parse_json(text); });
  PTHRUN_CHECK(doc.is_object(), path, ": expected a JSON object of token -> id, found ", json_describe(doc));
  const auto& members = doc.get_ref<const JsonValue::object_t&>();
  PTHRUN_CHECK(!members.empty() && members.size() <= INT32_MAX, path, ": ", members.size(),
               " tokens, expected 1 to ", INT32_MAX);
  const auto count = static_cast<int64_t>(members.size());
  SymbolIds ids;
  ids.reserve(members.size());
  std::vector<const std::string*> symbol_of_id(members.size(), nullptr);
  vocab.token_bytes.assign(members.size(), {});
  for (const auto& [symbol, value] : members) {
    const int64_t id = integer_or_minus_one(value);
    PTHRUN_CHECK(id >= 0 && id < count, path, ": token ", json_quote(symbol), ": expected an integer id from 0 to ",
                 count - 1, ", found ", json_describe(value));
    const auto slot = static_cast<std::size_t>(id);
    PTHRUN_CHECK(!symbol_of_id[slot], path, ": tokens ", json_quote(*symbol_of_id[slot]), " and ",
                 json_quote(symbol), " both have id ", id);
    PTHRUN_CHECK(!symbol.empty(), path, ": the token with id ", id, " is empty");
    PTHRUN_CHECK(ids.emplace(symbol, static_cast<TokenId>(id)).second, path, ": token ", json_quote(symbol),
                 " appears twice");
    symbol_of_id[slot] = &symbol;
    vocab.token_bytes[slot] = token_to_bytes(symbol, path, static_cast<TokenId>(id));
  }
  const ByteAlphabet& alphabet = byte_alphabet();
  for (int byte = 0; byte < 256; ++byte) {
    auto it = ids.find(alphabet.symbol_of_byte[byte]);
    PTHRUN_CHECK(it != ids.end(), path, ": no token for the byte ", hex_name("0x%02X", static_cast<char32_t>(byte)),
                 " (written ", json_quote(alphabet.symbol_of_byte[byte]), "), so not every text could be encoded");
    vocab.byte_ids[byte] = it->second;
  }
  if (auto it = ids.find("<|endoftext|>"); it != ids.end()) vocab.eot_id = it->second;
  return ids;
}

// vocab.bpe / merges.txt: an optional "#version" line, then "left right" per line, by rank.
void read_merges(const std::string& path, const std::string& vocab_path, const SymbolIds& ids, Vocabulary& vocab) {
  const std::string text = read_file(path, kMaxVocabFileBytes);
  std::unordered_map<uint64_t, std::size_t> line_of_pair;
  std::string joined;
  std::size_t line_no = 0;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    const std::size_t space = line.find(' ');
    PTHRUN_CHECK(space != 0 && space != std::string_view::npos && space + 1 < line.size() &&
                     line.find(' ', space + 1) == std::string_view::npos,
                 path, " line ", line_no, ": expected two tokens separated by one space, found ", json_quote(line));
    const std::string_view left = line.substr(0, space), right = line.substr(space + 1);
    auto lookup = [&](std::string_view symbol, const char* what) {
      auto it = ids.find(symbol);
      PTHRUN_CHECK(it != ids.end(), path, " line ", line_no, ": ", what, json_quote(symbol), " is not a token of ",
                   vocab_path);
      return it->second;
    };
    const TokenId left_id = lookup(left, ""), right_id = lookup(right, "");
    joined.assign(left).append(right);
    const TokenId merged_id = lookup(joined, "the merged token ");
    const uint64_t pair = (uint64_t(uint32_t(left_id)) << 32) | uint32_t(right_id);
    auto [it, fresh] = line_of_pair.emplace(pair, line_no);
    PTHRUN_CHECK(fresh, path, " line ", line_no, ": repeats the merge of line ", it->second, ", ", json_quote(line));
    PTHRUN_CHECK(vocab.merges.size() < INT32_MAX, path, ": more than ", INT32_MAX, " merges");
    vocab.merges.push_back({left_id, right_id, merged_id});
  }
}

bool is_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

// The vocabulary and merges files in dir, OpenAI's names first.
std::optional<std::pair<fs::path, fs::path>> vocab_files_in(const fs::path& dir) {
  for (auto [vocab, merges] : {std::pair{"encoder.json", "vocab.bpe"}, std::pair{"vocab.json", "merges.txt"}})
    if (is_file(dir / vocab) && is_file(dir / merges)) return std::pair{dir / vocab, dir / merges};
  return std::nullopt;
}

}  // namespace

Vocabulary read_vocabulary(const std::string& vocab_json_path, const std::string& merges_path) {
  Vocabulary vocab;
  const SymbolIds ids = read_token_ids(vocab_json_path, vocab);
  read_merges(merges_path, vocab_json_path, ids, vocab);
  vocab.source = str(vocab_json_path, " + ", merges_path);
  return vocab;
}

Vocabulary read_vocabulary_dir(const std::string& dir) {
  auto files = vocab_files_in(dir);
  std::error_code ec;
  PTHRUN_CHECK(files, dir, ": expected encoder.json + vocab.bpe (OpenAI) or vocab.json + merges.txt (Hugging Face)",
               fs::is_directory(dir, ec) ? "" : ", and it is not a folder");
  return read_vocabulary(files->first.string(), files->second.string());
}

std::string default_vocab_dir() {
  if (const char* env = std::getenv("PTHRUN_VOCAB_DIR"); env && *env) {
    PTHRUN_CHECK(vocab_files_in(env), "PTHRUN_VOCAB_DIR=", env,
                 ": expected encoder.json + vocab.bpe or vocab.json + merges.txt there");
    return env;
  }
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back((exe.parent_path() / ".." / "share" / "pthrun" / "gpt2").lexically_normal());
  candidates.push_back(PTHRUN_BUNDLED_VOCAB_DIR);
  std::string looked;
  for (const fs::path& dir : candidates) {
    if (vocab_files_in(dir)) return dir.string();
    looked += str(looked.empty() ? "" : ", ", dir.string());
  }
  throw Error(str("no GPT-2 vocabulary found (looked in ", looked,
                  "): give a folder with --vocab DIR or set PTHRUN_VOCAB_DIR"));
}

}  // namespace pthrun
