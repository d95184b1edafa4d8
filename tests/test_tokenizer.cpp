// The GPT-2 tokenizer against ids made by OpenAI's own encoder (shared/gpt2/reference-ids.jsonl)
// and by two independent encoders on 742 more texts (fixtures/tokenizer/references.jsonl: the
// published algorithm over the `regex` module, and tiktoken); BPE against a plain transcription
// of OpenAI's loop; round trips over random Unicode and random bytes; the <|endoftext|> option;
// unknown ids; the merge cache. Vocabulary files are tested in test_vocab.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "model/bpe.h"
#include "model/pretokenizer.h"
#include "model/tokenizer.h"
#include "model/vocab.h"
#include "runtime/error.h"
#include "runtime/json.h"
#include "tests/tokenizer_test_util.h"

using namespace pthrun;
using namespace pthrun::test;

namespace {

// OpenAI's loop, transcribed as plainly as possible over ids: find the adjacent pair of lowest
// rank, merge all its occurrences left to right, repeat until no pair has a rank.
class NaiveBpe {
 public:
  NaiveBpe(const std::array<TokenId, 256>& byte_ids, const std::vector<MergeRule>& rules) : byte_ids_(byte_ids) {
    for (std::size_t rank = 0; rank < rules.size(); ++rank)
      ranks_[{rules[rank].left, rules[rank].right}] = {static_cast<int>(rank), rules[rank].merged};
  }

  std::vector<TokenId> encode(std::string_view word) const {
    std::vector<TokenId> symbols;
    for (char c : word) symbols.push_back(byte_ids_[static_cast<unsigned char>(c)]);
    while (symbols.size() > 1) {
      auto best = ranks_.end();
      for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
        auto it = ranks_.find({symbols[i], symbols[i + 1]});
        if (it != ranks_.end() && (best == ranks_.end() || it->second.first < best->second.first)) best = it;
      }
      if (best == ranks_.end()) break;
      std::vector<TokenId> merged;
      for (std::size_t i = 0; i < symbols.size(); ++i) {
        if (i + 1 < symbols.size() && std::pair{symbols[i], symbols[i + 1]} == best->first) {
          merged.push_back(best->second.second);
          ++i;
        } else {
          merged.push_back(symbols[i]);
        }
      }
      symbols = merged;
    }
    return symbols;
  }

 private:
  std::array<TokenId, 256> byte_ids_;
  std::map<std::pair<TokenId, TokenId>, std::pair<int, TokenId>> ranks_;
};

std::vector<TokenId> naive_encode(std::string_view text) {
  static const NaiveBpe naive(gpt2_vocab().byte_ids, gpt2_vocab().merges);
  std::vector<TokenId> ids;
  for (std::string_view piece : pretokenize(text)) {
    std::vector<TokenId> word = naive.encode(piece);
    ids.insert(ids.end(), word.begin(), word.end());
  }
  return ids;
}

// Valid UTF-8 from every plane, weighted towards what the pattern treats specially:
// whitespace of every kind, apostrophes and contraction letters, digits of other scripts,
// combining marks, emoji pieces (ZWJ, variation selector, skin tone, flags), CJK.
std::string random_unicode(std::mt19937_64& rng) {
  static const char32_t specials[] = {
      ' ', ' ', ' ', '\n', '\t', '\r', '\v', '\f', 0x85, 0xA0, 0x1680, 0x2003, 0x2028, 0x2029, 0x202F, 0x3000,
      0x1C, 0x1F, 0x180E, '\'', '\'', 's', 't', 'r', 'e', 'v', 'm', 'l', 'd', 'S', 'R', 'E', '0', '7', 0x660,
      0x966, 0xFF10, 0x1D7CE, 0xB2, 0xBD, 0x216B, 0x3007, 0x301, 0x308, 0x20DD, 0x94D, 0x200D, 0xFE0F, 0x1F680,
      0x1F525, 0x1F3FD, 0x1F1EB, 0x1F1F7, 0x4E00, 0x65E5, 0xAC00, 0x5D0, 0x627, 0xE01, 0xE31, 0x915, 0x3B1, 0x430,
      0xE9, 0x1C5, 0x2B0, 0xFFFD, 0xFEFF, 0x200B, 0xE000, 0x10FFFF, 0xE0001};
  std::string text;
  for (std::size_t i = 0, n = rng() % 40; i < n; ++i) {
    const uint64_t kind = rng() % 10;
    char32_t cp;
    if (kind < 4) {
      cp = specials[rng() % std::size(specials)];
    } else if (kind < 7) {
      cp = static_cast<char32_t>(0x20 + rng() % 0x5F);
    } else {
      do cp = static_cast<char32_t>(rng() % 0x110000);
      while (cp >= 0xD800 && cp <= 0xDFFF);
    }
    append_utf8(text, cp);
  }
  return text;
}

// Any bytes, weighted towards ASCII spaces and the lead and continuation bytes of UTF-8.
std::string random_bytes(std::mt19937_64& rng) {
  std::string text(rng() % 48, '\0');
  for (char& c : text) {
    const uint64_t kind = rng() % 4;
    c = static_cast<char>(kind == 0 ? " a'\n"[rng() % 4] : kind == 1 ? 0x80 + rng() % 0x80 : rng() % 256);
  }
  return text;
}

}  // namespace

TEST_CASE("OpenAI's reference ids, every line") {
  const std::vector<JsonValue> lines = read_jsonl(gpt2_dir() / "reference-ids.jsonl");
  REQUIRE(lines.size() >= 11);
  for (const JsonValue& line : lines) {
    const std::string& text = line.at("text").get<std::string>();
    CAPTURE(text);
    const std::vector<TokenId> expected = ids_of(line.at("ids"));
    CHECK(gpt2().encode(text) == expected);
    CHECK(gpt2().decode(expected) == text);
  }
}

TEST_CASE("742 more texts: pieces from the regex module, ids from two independent encoders") {
  const std::vector<JsonValue> lines = read_jsonl(references_path());
  REQUIRE(lines.size() >= 700);
  std::size_t special_lines = 0;
  for (const JsonValue& line : lines) {
    const std::string& text = line.at("text").get<std::string>();
    CAPTURE(text);
    const std::vector<TokenId> expected = ids_of(line.at("ids"));
    if (line.contains("special")) {
      ++special_lines;
      CHECK(gpt2().encode(text, EndOfText::special) == expected);
    } else {
      std::vector<std::string> pieces;
      for (std::string_view piece : pretokenize(text)) pieces.emplace_back(piece);
      std::vector<std::string> expected_pieces;
      for (const JsonValue& piece : line.at("pieces")) expected_pieces.push_back(piece.get<std::string>());
      CHECK(pieces == expected_pieces);
      CHECK(gpt2().encode(text) == expected);
    }
    CHECK(gpt2().decode(expected) == text);
  }
  CHECK(special_lines >= 8);
}

TEST_CASE("the byte-level alphabet, as the vocabulary reader decodes it") {
  const Vocabulary& v = gpt2_vocab();
  REQUIRE(v.token_bytes.size() == 50257);
  CHECK(v.merges.size() == 50000);
  CHECK(v.token_bytes[0] == "!");
  CHECK(v.token_bytes[93] == "~");
  CHECK(v.token_bytes[94] == "\xA1");
  CHECK(v.token_bytes[187] == "\xFF");
  CHECK(v.token_bytes[188] == std::string(1, '\0'));  // the unprintable bytes follow, in order
  CHECK(v.token_bytes[198] == "\n");
  CHECK(v.token_bytes[220] == " ");
  CHECK(v.token_bytes[255] == "\xAD");
  CHECK(v.token_bytes[15496] == "Hello");
  CHECK(v.token_bytes[995] == " world");
  for (int byte = 0; byte < 256; ++byte)
    CHECK(v.token_bytes[v.byte_ids[byte]] == std::string(1, static_cast<char>(byte)));
  REQUIRE(v.eot_id);
  CHECK(*v.eot_id == 50256);
  CHECK(v.token_bytes[50256] == "<|endoftext|>");
}

TEST_CASE("BPE with the heap gives OpenAI's loop's tokens, on every piece of random text") {
  const Vocabulary& v = gpt2_vocab();
  const BpeMerges merges(v.byte_ids, v.merges);
  const NaiveBpe naive(v.byte_ids, v.merges);
  BpeScratch scratch;
  std::mt19937_64 rng(11);
  for (int round = 0; round < 1500; ++round) {
    const std::string text = round % 2 ? random_unicode(rng) : random_bytes(rng);
    for (std::string_view piece : pretokenize(text)) {
      std::vector<TokenId> ids;
      merges.encode_word(piece, scratch, ids);
      REQUIRE(ids == naive.encode(piece));
    }
  }
  // Long words, where the loop's order matters most.
  for (const char* word : {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "abababababababababababababababab",
                           "supercalifragilisticexpialidocious", "0000000000000000000000000000000"}) {
    std::vector<TokenId> ids;
    merges.encode_word(word, scratch, ids);
    CHECK(ids == naive.encode(word));
  }
}

TEST_CASE("a merge list where a merged pair outranks its parts: all of a rank first, as OpenAI") {
  // Tokens: bytes are their own ids; 256 = "xy" (rank 1); 257 = "xyx" (rank 0). In "xyxy"
  // OpenAI merges both x y pairs (rank 1) before it can see the pair "xy" "x" of rank 0.
  std::array<TokenId, 256> byte_ids{};
  for (int b = 0; b < 256; ++b) byte_ids[b] = b;
  const std::vector<MergeRule> rules = {{256, 'x', 257}, {'x', 'y', 256}};
  const BpeMerges merges(byte_ids, rules);
  BpeScratch scratch;
  std::vector<TokenId> ids;
  merges.encode_word("xyxy", scratch, ids);
  CHECK(ids == std::vector<TokenId>{256, 256});
  ids.clear();
  merges.encode_word("xyx", scratch, ids);  // one x y, then "xy" "x"
  CHECK(ids == std::vector<TokenId>{257});

  // Random merge lists over three letters, consistent or not, against the plain loop.
  std::mt19937_64 rng(5);
  for (int round = 0; round < 300; ++round) {
    std::vector<MergeRule> random_rules;
    std::vector<TokenId> tokens = {'a', 'b', 'c'};
    std::map<std::pair<TokenId, TokenId>, bool> used;
    for (TokenId next = 256; next < 256 + 12; ++next) {
      const TokenId left = tokens[rng() % tokens.size()], right = tokens[rng() % tokens.size()];
      if (used[{left, right}]) continue;
      used[{left, right}] = true;
      random_rules.push_back({left, right, next});
      tokens.push_back(next);
    }
    std::shuffle(random_rules.begin(), random_rules.end(), rng);
    const BpeMerges random_merges(byte_ids, random_rules);
    const NaiveBpe naive(byte_ids, random_rules);
    for (int w = 0; w < 20; ++w) {
      std::string word(1 + rng() % 24, 'a');
      for (char& c : word) c = static_cast<char>('a' + rng() % 3);
      std::vector<TokenId> got;
      random_merges.encode_word(word, scratch, got);
      REQUIRE(got == naive.encode(word));
    }
  }
}

TEST_CASE("decode(encode(x)) == x for random Unicode and random bytes; the cache changes nothing") {
  Tokenizer& tok = gpt2();
  std::mt19937_64 rng(2024);
  for (int round = 0; round < 4000; ++round) {
    const std::string text = round % 2 ? random_unicode(rng) : random_bytes(rng);
    CAPTURE(json_quote(text));
    const std::vector<TokenId> ids = tok.encode(text);
    REQUIRE(tok.decode(ids) == text);
    REQUIRE(ids == naive_encode(text));
  }
  tok.set_merge_cache(false);
  std::mt19937_64 again(2024);
  for (int round = 0; round < 4000; ++round) {
    const std::string text = round % 2 ? random_unicode(again) : random_bytes(again);
    REQUIRE(tok.encode(text) == naive_encode(text));
  }
  tok.set_merge_cache(true);
}

TEST_CASE("a megabyte without a space encodes in n log n time") {
  std::string word(1 << 20, 'a');
  std::mt19937_64 rng(3);
  std::string letters(1 << 20, 'a');
  for (char& c : letters) c = static_cast<char>('a' + rng() % 26);
  for (const std::string* text : {&word, &letters}) {
    const auto start = std::chrono::steady_clock::now();
    const std::vector<TokenId> ids = gpt2().encode(*text);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(gpt2().decode(ids) == *text);
    MESSAGE("1 MiB word: ", ids.size(), " tokens in ", seconds, " s");
  }
}

TEST_CASE("<|endoftext|>: plain text by default, the token 50256 on request") {
  Tokenizer& tok = gpt2();
  CHECK(tok.eot_id() == 50256);
  CHECK(tok.encode("<|endoftext|>") == std::vector<TokenId>{27, 91, 437, 1659, 5239, 91, 29});
  CHECK(tok.encode("<|endoftext|>", EndOfText::special) == std::vector<TokenId>{50256});
  // Around the special token the text is encoded on its own: " a" keeps its space.
  CHECK(tok.encode("x<|endoftext|> a", EndOfText::special) == std::vector<TokenId>{87, 50256, 257});
  CHECK(tok.decode(std::vector<TokenId>{50256}) == "<|endoftext|>");

  std::vector<TokenId> out = {1, 2};
  tok.encode("<|endoftext|><|endoftext|>", out, EndOfText::special);
  CHECK(out == std::vector<TokenId>{1, 2, 50256, 50256});
}

TEST_CASE("unknown ids are an error naming the id and the vocabulary") {
  Tokenizer& tok = gpt2();
  CHECK(tok.vocab_size() == 50257);
  CHECK_THROWS_WITH_AS(tok.decode(std::vector<TokenId>{15496, 50257}),
                       doctest::Contains("token id 50257 is not in the vocabulary (ids 0 to 50256"), Error);
  CHECK_THROWS_WITH_AS(tok.decode(std::vector<TokenId>{-1}), doctest::Contains("token id -1 is not"), Error);
  CHECK_THROWS_WITH_AS(tok.check_id(int64_t(1) << 40), doctest::Contains("token id 1099511627776 is not"), Error);
  CHECK_NOTHROW(tok.check_id(50256));
  CHECK(tok.decode(std::vector<TokenId>{}).empty());
  // Every valid id decodes, and the bytes are the token's.
  for (TokenId id = 0; id < 50257; ++id) REQUIRE(tok.decode(std::span(&id, 1)) == tok.token_bytes(id));
}

TEST_CASE("the merge cache: fixed size, exact keys, long words left out") {
  MergeCache cache(4);
  const TokenId a[] = {1, 2}, b[] = {3};
  CHECK(cache.find("hello").empty());
  cache.store("hello", a);
  const auto hit = cache.find("hello");
  CHECK(std::vector<TokenId>(hit.begin(), hit.end()) == std::vector<TokenId>{1, 2});
  CHECK(cache.find("hell").empty());
  CHECK(cache.find("hellp").empty());
  // Far more words than slots: each lookup gives the word's own tokens or nothing.
  auto word = [](int i) { return pthrun::str("w", i); };
  for (int i = 0; i < 100; ++i) {
    const TokenId id = i;
    cache.store(word(i), std::span(&id, 1));
  }
  int found = 0;
  for (int i = 0; i < 100; ++i) {
    const auto got = cache.find(word(i));
    if (got.empty()) continue;
    ++found;
    CHECK(got.size() == 1);
    CHECK(got[0] == i);
  }
  CHECK(found >= 1);
  CHECK(found <= 4);
  const std::string long_word(MergeCache::max_word_bytes + 1, 'x');
  cache.store(long_word, b);
  CHECK(cache.find(long_word).empty());
  std::vector<TokenId> many(MergeCache::max_tokens + 1, 7);
  cache.store("many", many);
  CHECK(cache.find("many").empty());
}
