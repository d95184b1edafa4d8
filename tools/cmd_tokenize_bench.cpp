// pthrun tokenize-bench: GPT-2 tokenizer throughput on one core, encoding with and without the
// merge cache, and decoding.
//
// The input is --file F, or else a generated mix (--mb MB, fixed seed) standing in for what
// GPT-2 is given: English-like prose (common words, plus one made-up word in twenty so that
// the cache also misses), source code, numbers, and other scripts (accented Latin, Greek,
// Cyrillic, CJK, emoji). Each operation runs --repeats times on the whole input and the table
// gives the median; the merge cache starts empty in every repeat. The three results are
// checked against each other (same ids with and without the cache, decode gives the input
// back) so that a fast wrong answer cannot pass for a fast one.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <random>
#include <optional>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/utf8.h"
#include "tools/cli.h"

namespace pthrun::cli {

namespace {

using Clock = std::chrono::steady_clock;

const char* const common_words[] = {
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
    "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were",
    "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would",
    "who", "so", "no", "model", "language", "training", "data", "network", "memory", "people", "time", "year",
    "world", "government", "system", "between", "through", "however", "important", "children", "different",
    "information", "development", "university", "understanding", "experience", "particularly", "community",
    "president", "research", "question", "because", "something", "thought", "American", "London", "Monday",
    "it's", "don't", "they're", "we've", "I'm", "you'll", "she'd", "water", "history", "light", "small",
    "large", "number", "written"};

const char* const code_words[] = {
    "int", "return", "const", "auto", "std::vector", "size_t", "if", "else", "for", "while", "self", "def",
    "import", "numpy", "tensor", "buffer", "offset_bytes", "nullptr", "true", "false", "printf", "struct",
    "template", "namespace"};

class CorpusWriter {
 public:
  std::string make(std::size_t nbytes) {
    while (out_.size() < nbytes) {
      const int kind = pick(20);  // prose 10/20, code 5/20, numbers 2/20, other scripts 3/20
      if (kind < 10) prose();
      else if (kind < 15) code();
      else if (kind < 17) numbers();
      else other_scripts();
    }
    out_.resize(nbytes);  // may cut a character in two: the tokenizer takes any bytes
    return std::move(out_);
  }

 private:
  int pick(std::size_t n) { return static_cast<int>(rng_() % n); }
  char32_t pick_in(char32_t first, char32_t last) { return first + static_cast<char32_t>(rng_() % (last - first + 1)); }

  void made_up_word() {
    for (int i = 0, n = 3 + pick(8); i < n; ++i) out_ += static_cast<char>('a' + pick(26));
  }

  void prose() {
    for (int sentence = 0, sentences = 3 + pick(5); sentence < sentences; ++sentence) {
      for (int w = 0, words = 6 + pick(14); w < words; ++w) {
        if (w) out_ += pick(12) ? " " : ", ";
        if (pick(20) == 0) made_up_word();
        else if (pick(25) == 0) out_ += std::to_string(pick(3000));
        else out_ += common_words[pick(std::size(common_words))];
      }
      out_ += pick(6) ? ". " : "? ";
    }
    out_ += "\n\n";
  }

  void code() {
    for (int line = 0, lines = 4 + pick(10); line < lines; ++line) {
      out_.append(static_cast<std::size_t>(4 * pick(4)), ' ');
      for (int t = 0, tokens = 2 + pick(6); t < tokens; ++t) {
        out_ += code_words[pick(std::size(code_words))];
        static const char* const glue[] = {" ", "(", ") ", " = ", "->", ".", ", ", "[i] ", "_"};
        out_ += glue[pick(9)];
      }
      out_ += pick(3) ? ";\n" : ":\n";
    }
    out_ += "\n";
  }

  void numbers() {
    for (int row = 0, rows = 3 + pick(6); row < rows; ++row) {
      out_ += str(1900 + pick(130), "-", 10 + pick(3), "-", 10 + pick(19));
      for (int c = 0; c < 4; ++c) out_ += str("\t", pick(100000), ".", pick(100));
      out_ += "\n";
    }
  }

  void other_scripts() {
    static const std::array<std::pair<char32_t, char32_t>, 5> scripts = {
        {{0xC0, 0xFF}, {0x3B1, 0x3C9}, {0x430, 0x44F}, {0x4E00, 0x9FFF}, {0x1F600, 0x1F64F}}};
    for (int w = 0, words = 10 + pick(30); w < words; ++w) {
      const auto [first, last] = scripts[static_cast<std::size_t>(pick(scripts.size()))];
      for (int i = 0, n = 1 + pick(6); i < n; ++i) append_utf8(out_, pick_in(first, last));
      out_ += pick(8) ? " " : ". ";
    }
    out_ += "\n";
  }

  std::mt19937_64 rng_{20240501};
  std::string out_;
};

// The median time of run(), each time after an untimed setup().
template <typename Setup, typename Run>
double median_seconds(int64_t repeats, Setup&& setup, Run&& run) {
  std::vector<double> seconds;
  for (int64_t i = 0; i < repeats; ++i) {
    setup();
    const auto start = Clock::now();
    run();
    seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  return seconds[seconds.size() / 2];
}

struct TokenizeBenchArgs {
  std::optional<std::string> file, vocab_dir;
  double megabytes = 4.0;
  int64_t repeats = 5;
};

int run_tokenize_bench(const TokenizeBenchArgs& args) {
  const int64_t repeats = args.repeats;
  const double megabytes = args.megabytes;
  const auto& file = args.file;
  const auto& vocab_dir = args.vocab_dir;
  Tokenizer tokenizer = Tokenizer::load(vocab_dir ? *vocab_dir : default_vocab_dir());
  const std::string text = file ? read_file(*file) : CorpusWriter().make(static_cast<std::size_t>(megabytes * 1e6));
  PTHRUN_CHECK(!text.empty(), *file, ": the file is empty, nothing to measure");

  std::vector<TokenId> cached, uncached;
  const double cached_s = median_seconds(
      repeats,
      [&] {
        tokenizer.set_merge_cache(true);  // empty again
        cached.clear();
      },
      [&] { tokenizer.encode(text, cached); });
  const MergeCache& cache = tokenizer.merge_cache();  // of the last repeat
  const double hit_rate = static_cast<double>(cache.hits()) /
                          static_cast<double>(std::max<uint64_t>(1, cache.hits() + cache.misses()));
  const double uncached_s = median_seconds(
      repeats,
      [&] {
        tokenizer.set_merge_cache(false);
        uncached.clear();
      },
      [&] { tokenizer.encode(text, uncached); });
  std::string decoded;
  const double decode_s = median_seconds(repeats, [] {}, [&] { decoded = tokenizer.decode(cached); });
  PTHRUN_CHECK(cached == uncached, "the merge cache changed the ids: a pthrun bug");
  PTHRUN_CHECK(decoded == text, "decode(encode(text)) differs from the text: a pthrun bug");

  const double mb = static_cast<double>(text.size()) / 1e6;
  std::printf("input: %s, %.2f MB, %zu tokens (%.2f bytes per token)\n",
              file ? file->c_str() : "generated mix (prose, code, numbers, other scripts)", mb, cached.size(),
              static_cast<double>(text.size()) / static_cast<double>(std::max<std::size_t>(1, cached.size())));
  std::printf("vocabulary: %s; one thread; median of %lld repeats\n\n", tokenizer.source().c_str(),
              static_cast<long long>(repeats));
  std::printf("| operation | median s | MB/s | Mtokens/s |\n|---|---|---|---|\n");
  auto row = [&](const char* name, double seconds) {
    std::printf("| %s | %.3f | %.1f | %.2f |\n", name, seconds, mb / seconds,
                static_cast<double>(cached.size()) / 1e6 / seconds);
  };
  row("encode, merge cache", cached_s);
  row("encode, no cache", uncached_s);
  row("decode", decode_s);
  std::printf("\nmerge cache: %.1f%% of multi-byte pieces were hits\n", 100.0 * hit_rate);
  return 0;
}

}  // namespace

extern const Command tokenize_bench_command = {
    "tokenize-bench", "Measure GPT-2 tokenizer throughput on one core", [](CLI::App& app) {
      auto args = std::make_shared<TokenizeBenchArgs>();
      app.add_option("-f,--file", args->file, "measure on this file (default: a generated mix of text)")->type_name("F");
      app.add_option("--mb", args->megabytes, "size of the generated mix in MB (default 4)")
          ->type_name("MB")
          ->check(number_in(0.001, 1024.0));
      app.add_option("-r,--repeats", args->repeats, "runs per operation; the median is reported (default 5)")
          ->type_name("N")
          ->check(integer_in(1, 1000));
      app.add_option("--vocab", args->vocab_dir,
                     "encoder.json + vocab.bpe or vocab.json + merges.txt (default: the bundled GPT-2 files)")
          ->type_name("DIR");
      return [args] { return run_tokenize_bench(*args); };
    }};

}  // namespace pthrun::cli
