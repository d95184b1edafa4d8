// Vocabulary files: Hugging Face's names and layout against OpenAI's, a small vocabulary
// written here, every way a file can be wrong (each with its exact message), and the search
// for the default folder.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "model/vocab.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/json.h"
#include "tests/tokenizer_test_util.h"

using namespace pthrun;
using namespace pthrun::test;

TEST_CASE("Hugging Face's vocab.json + merges.txt give the same ids as OpenAI's files") {
  // Write the bundled vocabulary the way Hugging Face publishes it: another file name, the
  // tokens in another order, a longer version line, no trailing newline.
  const Vocabulary& openai = gpt2_vocab();
  const JsonValue encoder = parse_json(read_file((gpt2_dir() / "encoder.json").string()));
  JsonWriter vocab_json;
  vocab_json.begin_object();
  const auto& members = encoder.get_ref<const JsonValue::object_t&>();
  for (auto it = members.rbegin(); it != members.rend(); ++it) vocab_json.key(it->first).value(it->second.get<int64_t>());
  vocab_json.end_object();
  std::string merges = read_file((gpt2_dir() / "vocab.bpe").string());
  REQUIRE(merges.starts_with("#version: 0.2\n"));
  merges = "#version: 0.2 - Trained by `huggingface/tokenizers`\n" + merges.substr(merges.find('\n') + 1);
  while (merges.ends_with('\n')) merges.pop_back();

  TempDir dir;
  dir.file("vocab.json", vocab_json.text());
  dir.file("merges.txt", merges);
  Tokenizer hf = Tokenizer::load(dir.path.string());
  CHECK(hf.source().find("vocab.json") != std::string::npos);
  const Vocabulary hf_vocab = read_vocabulary_dir(dir.path.string());
  CHECK(hf_vocab.token_bytes == openai.token_bytes);
  CHECK(hf_vocab.byte_ids == openai.byte_ids);
  REQUIRE(hf_vocab.merges.size() == openai.merges.size());
  for (std::size_t i = 0; i < openai.merges.size(); ++i) {
    REQUIRE(hf_vocab.merges[i].left == openai.merges[i].left);
    REQUIRE(hf_vocab.merges[i].right == openai.merges[i].right);
    REQUIRE(hf_vocab.merges[i].merged == openai.merges[i].merged);
  }
  for (const JsonValue& line : read_jsonl(references_path())) {
    if (line.contains("special")) continue;
    REQUIRE(hf.encode(line.at("text").get<std::string>()) == ids_of(line.at("ids")));
  }
}

namespace {

// A small byte-level vocabulary in OpenAI's format: the 256 bytes, "ab" and "abc".
struct SmallVocab {
  TempDir dir;
  std::vector<std::pair<std::string, std::string>> tokens;  // (symbol, id text)
  std::string merges = "#version: 0.2\na b\nab c\n";

  SmallVocab() {
    int unprintable = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      std::string symbol;
      append_utf8(symbol, printable ? static_cast<char32_t>(b) : static_cast<char32_t>(0x100 + unprintable++));
      tokens.emplace_back(symbol, std::to_string(b));
    }
    tokens.emplace_back("ab", "256");
    tokens.emplace_back("abc", "257");
  }

  std::string write() {
    std::string json = "{";
    for (std::size_t i = 0; i < tokens.size(); ++i)
      json += (i ? ", " : "") + json_quote(tokens[i].first) + ": " + tokens[i].second;
    dir.file("encoder.json", json + "}");
    dir.file("vocab.bpe", merges);
    return dir.path.string();
  }

  std::string error() {
    const std::string path = write();
    try {
      read_vocabulary_dir(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }
};

}  // namespace

TEST_CASE("a small vocabulary in OpenAI's format") {
  SmallVocab small;
  Tokenizer tok = Tokenizer::load(small.write());
  CHECK(tok.vocab_size() == 258);
  CHECK_FALSE(tok.eot_id());
  CHECK(tok.encode("abc ab") == std::vector<TokenId>{257, ' ', 256});  // " ab": no merge starts with ' '
  CHECK_THROWS_WITH_AS(tok.encode("x", EndOfText::special), doctest::Contains("has no <|endoftext|> token"), Error);
}

TEST_CASE("vocabulary files that are wrong are refused with the file and the reason") {
  {
    SmallVocab v;
    v.tokens['&'].second = "258";
    CHECK(v.error() == v.dir.path.string() +
                           "/encoder.json: token \"&\": expected an integer id from 0 to 257, found 258");
  }
  {
    SmallVocab v;
    v.tokens['&'].second = "5.5";
    CHECK(v.error().find("token \"&\": expected an integer id from 0 to 257, found 5.5") != std::string::npos);
  }
  {
    SmallVocab v;
    v.tokens['&'].second = "\"38\"";
    CHECK(v.error().find("token \"&\": expected an integer id from 0 to 257, found a string") != std::string::npos);
  }
  {
    SmallVocab v;
    v.tokens['\''].second = "38";
    v.tokens.push_back({"zz", "39"});  // the count stays right: the repeat is the only problem
    CHECK(v.error().find("encoder.json: tokens \"&\" and \"'\" both have id 38") != std::string::npos);
  }
  {
    SmallVocab v;
    v.tokens.back().first = "a b";  // ' ' is not in the alphabet, which writes it as U+0120
    CHECK(v.error().find("token \"a b\" (id 257) contains U+0020, which is not in GPT-2's byte-level alphabet") !=
          std::string::npos);
  }
  {
    SmallVocab v;
    v.tokens['!'].first = "\xE2\x82\xAC";  // '€' is not in the alphabet
    CHECK(v.error().find("token \"€\" (id 33) contains U+20AC") != std::string::npos);
  }
  {
    SmallVocab v;
    v.tokens['!'].first = "abcd";  // a valid token, but the byte '!' has none now
    CHECK(v.error().find("no token for the byte 0x21 (written \"!\")") != std::string::npos);
  }
  {
    SmallVocab v;
    v.merges = "#version: 0.2\na b\nab  c\n";
    CHECK(v.error() == v.dir.path.string() +
                           "/vocab.bpe line 3: expected two tokens separated by one space, found \"ab  c\"");
  }
  {
    SmallVocab v;
    v.merges = "#version: 0.2\na b\nab\n";
    CHECK(v.error().find("vocab.bpe line 3: expected two tokens") != std::string::npos);
  }
  {
    SmallVocab v;
    v.merges = "a b\nab zz\n";  // no version line: every line is a merge
    CHECK(v.error().find("vocab.bpe line 2: \"zz\" is not a token of ") != std::string::npos);
  }
  {
    SmallVocab v;
    v.merges = "#version: 0.2\na b\nb c\n";
    CHECK(v.error().find("vocab.bpe line 3: the merged token \"bc\" is not a token of ") != std::string::npos);
  }
  {
    SmallVocab v;
    v.merges = "#version: 0.2\na b\nab c\r\na b\r\n";
    CHECK(v.error().find("vocab.bpe line 4: repeats the merge of line 2, \"a b\"") != std::string::npos);
  }
  {
    SmallVocab v;
    v.write();
    v.dir.file("encoder.json", "[1, 2]");
    CHECK_THROWS_WITH_AS(read_vocabulary_dir(v.dir.path.string()),
                         doctest::Contains("encoder.json: expected a JSON object of token -> id, found an array"),
                         Error);
    v.dir.file("encoder.json", "{\"a\": 0");
    CHECK_THROWS_WITH_AS(read_vocabulary_dir(v.dir.path.string()), doctest::Contains("encoder.json: "), Error);
  }
  {
    TempDir empty;
    CHECK_THROWS_WITH_AS(read_vocabulary_dir(empty.path.string()),
                         doctest::Contains("expected encoder.json + vocab.bpe (OpenAI) or vocab.json + merges.txt"),
                         Error);
    CHECK_THROWS_WITH_AS(read_vocabulary_dir("/nonexistent/vocab"), doctest::Contains("and it is not a folder"), Error);
  }
}

TEST_CASE("the default folder: PTHRUN_VOCAB_DIR first, never ignored when set") {
  const char* saved = std::getenv("PTHRUN_VOCAB_DIR");
  const std::string saved_value = saved ? saved : "";
  ::unsetenv("PTHRUN_VOCAB_DIR");
  // A test binary is not installed: the source tree's copy.
  CHECK(default_vocab_dir() == std::string(PTHRUN_SOURCE_DIR) + "/third_party/gpt2");

  ::setenv("PTHRUN_VOCAB_DIR", "/nonexistent/vocab", 1);
  CHECK_THROWS_WITH_AS(default_vocab_dir(), doctest::Contains("PTHRUN_VOCAB_DIR=/nonexistent/vocab: expected"), Error);
  SmallVocab small;
  const std::string dir = small.write();
  ::setenv("PTHRUN_VOCAB_DIR", dir.c_str(), 1);
  CHECK(default_vocab_dir() == dir);
  CHECK(Tokenizer::load_default().vocab_size() == 258);

  if (saved) ::setenv("PTHRUN_VOCAB_DIR", saved_value.c_str(), 1);
  else ::unsetenv("PTHRUN_VOCAB_DIR");
}

