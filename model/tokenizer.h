// GPT-2's tokenizer: byte-level BPE that gives the same ids as OpenAI's encoder.
//
//   Tokenizer tok = Tokenizer::load_default();             // the bundled GPT-2 files
//   std::vector<TokenId> ids = tok.encode("Hello, world");  // {15496, 11, 995}
//   std::string text = tok.decode(ids);                     // "Hello, world"
//   tok.encode("<|endoftext|>");                            // 7 tokens: plain text, as OpenAI's
//   tok.encode("<|endoftext|>", EndOfText::special);        // {50256}
//
// Encoding takes any bytes: valid UTF-8 gives OpenAI's ids, and invalid UTF-8 encodes too
// (see pretokenizer.h), so decode(encode(x)) == x for every byte string x. Decoding any valid
// id succeeds; an id outside the vocabulary is an error. Decoded bytes need not be valid UTF-8
// on their own: a token may hold part of a character.
//
// Steps: the pre-tokenizer splits the text into pieces (pretokenizer.h); each piece is looked
// up in a bounded merge cache and otherwise encoded by BPE (bpe.h). The cache and BPE's
// working memory make encode() non-const: one Tokenizer must not encode on two threads at
// once (copies may).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/bpe.h"
#include "model/vocab.h"

namespace pthrun {

// How encode() treats the text "<|endoftext|>".
enum class EndOfText {
  as_text,  // like any other text (OpenAI's encoder, and the safe choice for user input)
  special,  // as the single token eot_id()
};

class Tokenizer {
 public:
  explicit Tokenizer(Vocabulary vocab);
  // A folder with encoder.json + vocab.bpe or vocab.json + merges.txt.
  static Tokenizer load(const std::string& dir);
  // default_vocab_dir(): the bundled GPT-2 files.
  static Tokenizer load_default();

  std::vector<TokenId> encode(std::string_view text, EndOfText eot = EndOfText::as_text);
  // Appends to out instead.
  void encode(std::string_view text, std::vector<TokenId>& out, EndOfText eot = EndOfText::as_text);
  // Throws pthrun::Error for an id outside the vocabulary.
  std::string decode(std::span<const TokenId> ids) const;
  // The bytes of one token.
  const std::string& token_bytes(TokenId id) const;
  // Throws pthrun::Error naming the id and the vocabulary size unless 0 <= id < vocab_size().
  void check_id(int64_t id) const;

  int64_t vocab_size() const { return static_cast<int64_t>(token_bytes_.size()); }
  // "<|endoftext|>" (50256 for GPT-2), when the vocabulary has it.
  std::optional<TokenId> eot_id() const { return eot_id_; }
  // The files it was read from.
  const std::string& source() const { return source_; }

  // The merge cache is on by default; off, every piece goes through BPE (for benchmarks).
  // Either way the cache starts again empty.
  void set_merge_cache(bool enabled);
  const MergeCache& merge_cache() const { return cache_; }

 private:
  void encode_ordinary(std::string_view text, std::vector<TokenId>& out);

  std::vector<std::string> token_bytes_;
  std::optional<TokenId> eot_id_;
  std::string source_;
  BpeMerges merges_;
  MergeCache cache_;
  bool cache_enabled_ = true;
  BpeScratch scratch_;
};

}  // namespace pthrun
