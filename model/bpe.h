// Byte-pair encoding of one pre-token by ranked merges, exactly as OpenAI's GPT-2 encoder
// does it, plus the bounded cache that saves redoing it for words already seen.
//
//   BpeMerges merges(byte_ids, rules);          // rules[r] = {left, right, merged}: rank r
//   BpeScratch scratch;
//   merges.encode_word("hello", scratch, ids);  // appends {31373} with GPT-2's merges
//
// OpenAI's algorithm: start from one symbol per byte; while some adjacent pair has a rank,
// take the pair of lowest rank and merge all its occurrences, left to right and without
// overlap; the symbols left are the tokens. Rescanning the word at every step is quadratic, so
// a long word (a megabyte without a space) would stall. Here the adjacent pairs sit in a
// min-heap ordered by (rank, position) over a linked list of symbols; entries made stale by a
// merge are skipped when popped: O(n log n). All entries of the lowest rank are taken off the
// heap before any of them is merged, so a pair that a merge creates cannot overtake the other
// occurrences of that rank, even in a merge list where it outranks its parts: the same order as
// OpenAI's loop.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace pthrun {

using TokenId = int32_t;

struct MergeRule {
  TokenId left, right, merged;
};

// Working memory for encode_word, kept between calls so that encoding allocates nothing.
struct BpeScratch {
  struct Symbol {
    TokenId id;  // -1 once merged into its left neighbour
    int32_t prev, next;  // -1 at the ends
  };
  struct Candidate {
    int32_t rank;
    int32_t left, right;  // positions of the pair's symbols
    TokenId left_id, right_id;  // what they were when the pair was pushed
    TokenId merged;
  };
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap, batch;
};

class BpeMerges {
 public:
  // byte_ids[b] is the token of the single byte b; rules are in rank order. Throws
  // pthrun::Error when a pair appears twice (the message gives both ranks).
  BpeMerges(const std::array<TokenId, 256>& byte_ids, const std::vector<MergeRule>& rules);

  // Appends the tokens of `word` (one pre-token, any bytes) to out.
  void encode_word(std::string_view word, BpeScratch& scratch, std::vector<TokenId>& out) const;
  TokenId byte_id(unsigned char byte) const { return byte_ids_[byte]; }

 private:
  struct Slot {
    uint64_t key;  // (left << 32) | right; empty_key when unused
    int32_t rank;
    TokenId merged;
  };
  static constexpr uint64_t empty_key = ~uint64_t(0);
  static uint64_t pair_key(TokenId left, TokenId right) {
    return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  }
  std::size_t home_slot(uint64_t key) const;
  const Slot* find(TokenId left, TokenId right) const;
  void push_candidate(BpeScratch& scratch, int32_t left, int32_t right) const;

  std::array<TokenId, 256> byte_ids_;
  // Open addressing with linear probing, at most half full: a lookup is one or two cache
  // lines, where std::unordered_map chases a pointer per node.
  std::vector<Slot> slots_;
  int shift_ = 0;  // 64 - log2(slots_.size())
};

// The tokens of recent pre-tokens. Direct-mapped: a word goes to the slot its hash picks and
// replaces what was there, so memory is fixed (slots * 128 bytes: 4 MiB by default) and a
// lookup reads one slot. Words longer than max_word_bytes, or of more than max_tokens tokens,
// are not cached; they are rare and seldom repeat.
class MergeCache {
 public:
  static constexpr std::size_t max_word_bytes = 62;
  static constexpr std::size_t max_tokens = 16;

  explicit MergeCache(std::size_t slots = 32768);  // rounded up to a power of two

  // The word's tokens, or an empty span when it is not cached.
  std::span<const TokenId> find(std::string_view word);
  void store(std::string_view word, std::span<const TokenId> tokens);
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  struct alignas(64) Slot {
    uint8_t word_nbytes = 0;  // 0: empty (pre-tokens are never empty)
    uint8_t ntokens = 0;
    char word[max_word_bytes];
    TokenId tokens[max_tokens];
  };
  static_assert(sizeof(Slot) == 128);
  Slot& slot_for(std::string_view word);

  std::vector<Slot> slots_;
  uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace pthrun
