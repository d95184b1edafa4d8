// Shared by the tokenizer suites: where the GPT-2 files are, the tokenizer and vocabulary read
// from them (once per process), JSON-lines fixtures, and temporary folders.
#pragma once

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "model/vocab.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/json.h"
#include "runtime/utf8.h"

namespace pthrun::test {

namespace fs = std::filesystem;

inline bool has_gpt2_files(const fs::path& dir) {
  return fs::is_regular_file(dir / "encoder.json") && fs::is_regular_file(dir / "vocab.bpe") &&
         fs::is_regular_file(dir / "reference-ids.jsonl");
}

// $PTHRUN_GPT2_DIR, else ../shared/gpt2 beside the source tree, else the bundled copy.
inline fs::path gpt2_dir() {
  static const fs::path dir = [] {
    fs::path chosen;
    if (const char* env = std::getenv("PTHRUN_GPT2_DIR"); env && *env) {
      chosen = env;
      REQUIRE_MESSAGE(has_gpt2_files(chosen), "PTHRUN_GPT2_DIR=", env,
                      " lacks encoder.json, vocab.bpe or reference-ids.jsonl");
    } else if (has_gpt2_files(fs::path(PTHRUN_SOURCE_DIR) / ".." / "shared" / "gpt2")) {
      chosen = (fs::path(PTHRUN_SOURCE_DIR) / ".." / "shared" / "gpt2").lexically_normal();
    } else {
      chosen = fs::path(PTHRUN_SOURCE_DIR) / "third_party" / "gpt2";
      REQUIRE_MESSAGE(has_gpt2_files(chosen), "no GPT-2 files: neither ../shared/gpt2 nor ", chosen.string());
    }
    std::printf("test_tokenizer: GPT-2 files from %s\n", chosen.string().c_str());
    return chosen;
  }();
  return dir;
}

inline Tokenizer& gpt2() {
  static Tokenizer tokenizer = Tokenizer::load(gpt2_dir().string());
  return tokenizer;
}

inline const Vocabulary& gpt2_vocab() {
  static const Vocabulary vocab = read_vocabulary_dir(gpt2_dir().string());
  return vocab;
}

inline std::vector<JsonValue> read_jsonl(const fs::path& path) {
  std::vector<JsonValue> lines;
  const std::string text = read_file(path.string());
  for (std::size_t start = 0, end; start < text.size(); start = end + 1) {
    end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) lines.push_back(parse_json(std::string_view(text).substr(start, end - start)));
  }
  return lines;
}

inline std::vector<TokenId> ids_of(const JsonValue& array) {
  std::vector<TokenId> ids;
  for (const JsonValue& id : array) ids.push_back(static_cast<TokenId>(id.get<int64_t>()));
  return ids;
}

inline fs::path references_path() {
  return fs::path(PTHRUN_SOURCE_DIR) / "tests" / "fixtures" / "tokenizer" / "references.jsonl";
}

// A fresh folder, removed with everything in it when the object goes.
struct TempDir {
  fs::path path;
  TempDir() {
    static int made = 0;
    path = fs::temp_directory_path() / str("pthrun-tokenizer-test-", ::getpid(), "-", made++);
    fs::create_directories(path);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name, std::string_view content) const {
    write_file_atomically((path / name).string(), content);
    return (path / name).string();
  }
};

}  // namespace pthrun::test
