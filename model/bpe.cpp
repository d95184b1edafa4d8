// BPE of one pre-token with a heap of ranked pairs, and the merge cache (see bpe.h).
#include "model/bpe.h"

#include <algorithm>
#include <bit>
#include <climits>
#include <cstring>
#include <functional>

#include "runtime/error.h"

namespace pthrun {

namespace {

// Heap order: the lowest rank first, and within a rank the leftmost pair first.
bool comes_later(const BpeScratch::Candidate& a, const BpeScratch::Candidate& b) {
  return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
}

}  // namespace

BpeMerges::BpeMerges(const std::array<TokenId, 256>& byte_ids, const std::vector<MergeRule>& rules)
    : byte_ids_(byte_ids) {
  const std::size_t capacity = std::bit_ceil(std::max<std::size_t>(16, 2 * rules.size()));
  slots_.assign(capacity, Slot{empty_key, 0, 0});
  shift_ = 64 - std::countr_zero(capacity);
  for (std::size_t rank = 0; rank < rules.size(); ++rank) {
    const MergeRule& rule = rules[rank];
    const uint64_t key = pair_key(rule.left, rule.right);
    std::size_t i = home_slot(key);
    while (slots_[i].key != empty_key) {
      PTHRUN_ASSERT(slots_[i].key != key);  // the vocabulary reader rejects repeated pairs
      i = (i + 1) & (capacity - 1);
    }
    slots_[i] = Slot{key, static_cast<int32_t>(rank), rule.merged};
  }
}

std::size_t BpeMerges::home_slot(uint64_t key) const {
  // Fibonacci hashing: the top bits of key * 2^64/phi spread consecutive ids well.
  return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
}

const BpeMerges::Slot* BpeMerges::find(TokenId left, TokenId right) const {
  const uint64_t key = pair_key(left, right);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = home_slot(key);; i = (i + 1) & mask) {
    if (slots_[i].key == key) return &slots_[i];
    if (slots_[i].key == empty_key) return nullptr;
  }
}

void BpeMerges::push_candidate(BpeScratch& scratch, int32_t left, int32_t right) const {
  const TokenId left_id = scratch.symbols[left].id, right_id = scratch.symbols[right].id;
  const Slot* merge = find(left_id, right_id);
  if (!merge) return;
  scratch.heap.push_back({merge->rank, left, right, left_id, right_id, merge->merged});
  std::push_heap(scratch.heap.begin(), scratch.heap.end(), comes_later);
}

void BpeMerges::encode_word(std::string_view word, BpeScratch& scratch, std::vector<TokenId>& out) const {
  PTHRUN_CHECK(word.size() < INT32_MAX, "a pre-token of ", word.size(), " bytes is too long to encode (at most ",
               INT32_MAX - 1, ")");
  const auto n = static_cast<int32_t>(word.size());
  if (n <= 1) {
    if (n == 1) out.push_back(byte_id(static_cast<unsigned char>(word[0])));
    return;
  }
  auto& symbols = scratch.symbols;
  symbols.resize(static_cast<std::size_t>(n));
  for (int32_t i = 0; i < n; ++i)
    symbols[i] = {byte_id(static_cast<unsigned char>(word[i])), i - 1, i + 1 < n ? i + 1 : -1};
  scratch.heap.clear();
  for (int32_t i = 0; i + 1 < n; ++i) push_candidate(scratch, i, i + 1);

  while (!scratch.heap.empty()) {
    // Every pending pair of the lowest rank, leftmost first; see bpe.h for why all at once.
    const int32_t rank = scratch.heap.front().rank;
    scratch.batch.clear();
    while (!scratch.heap.empty() && scratch.heap.front().rank == rank) {
      std::pop_heap(scratch.heap.begin(), scratch.heap.end(), comes_later);
      scratch.batch.push_back(scratch.heap.back());
      scratch.heap.pop_back();
    }
    for (const BpeScratch::Candidate& pair : scratch.batch) {
      BpeScratch::Symbol& left = symbols[pair.left];
      BpeScratch::Symbol& right = symbols[pair.right];
      // Stale: a merge since the push changed one of the two symbols (in "aaa", merging the
      // first two a's consumes the second pair).
      if (left.id != pair.left_id || left.next != pair.right || right.id != pair.right_id) continue;
      left.id = pair.merged;
      left.next = right.next;
      right.id = -1;
      if (right.next >= 0) symbols[right.next].prev = pair.left;
      if (left.prev >= 0) push_candidate(scratch, left.prev, pair.left);
      if (left.next >= 0) push_candidate(scratch, pair.left, left.next);
    }
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

MergeCache::MergeCache(std::size_t slots) : slots_(std::bit_ceil(std::max<std::size_t>(slots, 1))) {}

MergeCache::Slot& MergeCache::slot_for(std::string_view word) {
  return slots_[std::hash<std::string_view>{}(word) & (slots_.size() - 1)];
}

std::span<const TokenId> MergeCache::find(std::string_view word) {
  const Slot& slot = slot_for(word);
  if (slot.word_nbytes == word.size() && std::memcmp(slot.word, word.data(), word.size()) == 0) {
    ++hits_;
    return {slot.tokens, slot.ntokens};
  }
  ++misses_;
  return {};
}

void MergeCache::store(std::string_view word, std::span<const TokenId> tokens) {
  if (word.empty() || word.size() > max_word_bytes || tokens.size() > max_tokens) return;
  Slot& slot = slot_for(word);
  slot.word_nbytes = static_cast<uint8_t>(word.size());
  slot.ntokens = static_cast<uint8_t>(tokens.size());
  std::memcpy(slot.word, word.data(), word.size());
  std::copy(tokens.begin(), tokens.end(), slot.tokens);
}

}  // namespace pthrun
