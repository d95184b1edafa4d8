// Reading a byte-level BPE vocabulary: OpenAI's encoder.json + vocab.bpe, or Hugging Face's
// vocab.json + merges.txt (the same content under other names); and finding the bundled
// GPT-2 files.
//
//   Vocabulary v = read_vocabulary_dir(default_vocab_dir());
//   v.token_bytes[15496] == "Hello";  v.merges.size() == 50000;  *v.eot_id == 50256
//
// The files write tokens in GPT-2's byte-level alphabet, one printable code point per byte:
// '!'..'~', '¡'..'¬' and '®'..'ÿ' stand for themselves, the 68 other bytes in increasing
// order for U+0100 onwards (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A). The reader turns
// tokens back into bytes and checks everything encoding relies on, so that any byte string
// encodes and any valid id decodes: ids are 0..V-1 with no gap or repeat, each single byte has
// a token, each merge's two parts and its result are tokens, and no pair is merged twice.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "model/bpe.h"

namespace pthrun {

struct Vocabulary {
  std::vector<std::string> token_bytes;  // id -> the bytes it stands for
  std::array<TokenId, 256> byte_ids{};   // byte -> the token of that byte alone
  std::vector<MergeRule> merges;         // in rank order
  std::optional<TokenId> eot_id;         // "<|endoftext|>", when the vocabulary has it
  std::string source;                    // the two files, for messages
};

// Throws pthrun::Error naming the file, and the line or token, that is wrong.
Vocabulary read_vocabulary(const std::string& vocab_json_path, const std::string& merges_path);

// A folder holding encoder.json + vocab.bpe, or else vocab.json + merges.txt.
Vocabulary read_vocabulary_dir(const std::string& dir);

// The folder of the GPT-2 files pthrun uses when none is given, the first of:
//   $PTHRUN_VOCAB_DIR (an error if it lacks the files: a setting is never ignored),
//   <folder of the executable>/../share/pthrun/gpt2 (an installed pthrun),
//   <source tree>/third_party/gpt2 (a build tree).
// Throws pthrun::Error listing the places it looked.
std::string default_vocab_dir();

}  // namespace pthrun
