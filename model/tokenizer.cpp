// Encoding and decoding over the pre-tokenizer, BPE and the merge cache (see tokenizer.h).
#include "model/tokenizer.h"

#include <utility>

#include "model/pretokenizer.h"
#include "runtime/error.h"

namespace pthrun {

namespace {

constexpr std::string_view eot_text = "<|endoftext|>";

}  // namespace

Tokenizer::Tokenizer(Vocabulary vocab)
    : token_bytes_(std::move(vocab.token_bytes)),
      eot_id_(vocab.eot_id),
      source_(std::move(vocab.source)),
      merges_(vocab.byte_ids, vocab.merges) {}

Tokenizer Tokenizer::load(const std::string& dir) { return Tokenizer(read_vocabulary_dir(dir)); }

Tokenizer Tokenizer::load_default() { return load(default_vocab_dir()); }

std::vector<TokenId> Tokenizer::encode(std::string_view text, EndOfText eot) {
  std::vector<TokenId> ids;
  encode(text, ids, eot);
  return ids;
}

void Tokenizer::encode(std::string_view text, std::vector<TokenId>& out, EndOfText eot) {
  if (eot == EndOfText::as_text) return encode_ordinary(text, out);
  PTHRUN_CHECK(eot_id_, "the vocabulary in ", source_, " has no <|endoftext|> token to encode as special");
  // Each "<|endoftext|>" becomes the one token; the text around it is encoded on its own, so
  // no piece reaches across it.
  for (std::size_t at = text.find(eot_text); at != std::string_view::npos; at = text.find(eot_text)) {
    encode_ordinary(text.substr(0, at), out);
    out.push_back(*eot_id_);
    text.remove_prefix(at + eot_text.size());
  }
  encode_ordinary(text, out);
}

void Tokenizer::encode_ordinary(std::string_view text, std::vector<TokenId>& out) {
  Pretokenizer pieces(text);
  for (std::string_view piece = pieces.next(); !piece.empty(); piece = pieces.next()) {
    if (piece.size() == 1) {
      out.push_back(merges_.byte_id(static_cast<unsigned char>(piece[0])));
      continue;
    }
    if (cache_enabled_) {
      std::span<const TokenId> cached = cache_.find(piece);
      if (!cached.empty()) {
        out.insert(out.end(), cached.begin(), cached.end());
        continue;
      }
    }
    const std::size_t first = out.size();
    merges_.encode_word(piece, scratch_, out);
    if (cache_enabled_) cache_.store(piece, std::span<const TokenId>(out).subspan(first));
  }
}

void Tokenizer::set_merge_cache(bool enabled) {
  cache_enabled_ = enabled;
  cache_ = MergeCache();
}

void Tokenizer::check_id(int64_t id) const {
  PTHRUN_CHECK(id >= 0 && id < vocab_size(), "token id ", id, " is not in the vocabulary (ids 0 to ",
               vocab_size() - 1, ", from ", source_, ")");
}

const std::string& Tokenizer::token_bytes(TokenId id) const {
  check_id(id);
  return token_bytes_[static_cast<std::size_t>(id)];
}

std::string Tokenizer::decode(std::span<const TokenId> ids) const {
  std::string text;
  for (TokenId id : ids) text += token_bytes(id);
  return text;
}

}  // namespace pthrun
