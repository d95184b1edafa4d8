// pthrun tokenize and tokenize-bench, run as a user runs them: the built binary, its output,
// its exit status and its one-line errors.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "runtime/file_util.h"

namespace fs = std::filesystem;

namespace {

struct Result {
  int status;
  std::string out, err;
};

std::string quote(std::string_view arg) {
  std::string quoted = "'";
  for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// Runs `pthrun ARGS` through the shell (so ARGS are quoted here), optionally with a file on
// its standard input.
Result run_pthrun(const std::string& args, const std::string& stdin_path = "/dev/null") {
  const fs::path dir = fs::temp_directory_path() / ("pthrun-cli-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string out_path = (dir / "stdout").string(), err_path = (dir / "stderr").string();
  const std::string command = quote(PTHRUN_BINARY_DIR "/pthrun") + " " + args + " <" + quote(stdin_path) + " >" +
                              quote(out_path) + " 2>" + quote(err_path);
  const int status = std::system(command.c_str());
  Result r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, pthrun::read_file(out_path), pthrun::read_file(err_path)};
  fs::remove_all(dir);
  return r;
}

}  // namespace

TEST_CASE("pthrun tokenize: text in, a JSON array of ids out; ids in, the text out") {
  Result r = run_pthrun("tokenize " + quote("Hello, world"));
  CHECK(r.status == 0);
  CHECK(r.out == "[15496, 11, 995]\n");
  CHECK(r.err.empty());

  r = run_pthrun("tokenize --decode 15496,11,995");
  CHECK(r.status == 0);
  CHECK(r.out == "Hello, world");  // the bytes as they are, nothing added

  r = run_pthrun("tokenize --decode " + quote("[15496, 11, 995]"));
  CHECK(r.out == "Hello, world");
  r = run_pthrun("tokenize --decode " + quote("[]"));
  CHECK(r.status == 0);
  CHECK(r.out.empty());

  CHECK(run_pthrun("tokenize ''").out == "[]\n");
  CHECK(run_pthrun("tokenize -- -x").out == "[12, 87]\n");
  CHECK(run_pthrun("tokenize " + quote("<|endoftext|>")).out == "[27, 91, 437, 1659, 5239, 91, 29]\n");
  CHECK(run_pthrun("tokenize --special " + quote("a<|endoftext|>b")).out == "[64, 50256, 65]\n");
  CHECK(run_pthrun("tokenize --vocab " + quote(PTHRUN_SOURCE_DIR "/third_party/gpt2") + " hi").out == "[5303]\n");
}

TEST_CASE("pthrun tokenize --file: any bytes, and back through --decode exactly") {
  const fs::path dir = fs::temp_directory_path() / ("pthrun-cli-file-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string bytes = std::string("caf\xC3\xA9 \xFF\xFE\x00 line\r\n\xF0\x9F\x9A\x80  end  ", 27);
  const std::string path = (dir / "input.bin").string();
  pthrun::write_file_atomically(path, bytes);

  const Result encoded = run_pthrun("tokenize --file " + quote(path));
  REQUIRE(encoded.status == 0);
  REQUIRE(encoded.out.starts_with("["));
  const Result from_stdin = run_pthrun("tokenize --file -", path);
  CHECK(from_stdin.out == encoded.out);
  const Result decoded = run_pthrun("tokenize --decode " + quote(encoded.out));
  CHECK(decoded.status == 0);
  CHECK(decoded.out == bytes);
  fs::remove_all(dir);
}

TEST_CASE("pthrun tokenize: errors are one line; bad usage exits 2, bad input exits 1") {
  Result r = run_pthrun("tokenize --decode 15496,50257");
  CHECK(r.status == 1);
  CHECK(r.out.empty());
  CHECK(r.err.starts_with("error: token id 50257 is not in the vocabulary (ids 0 to 50256, from "));
  CHECK(r.err.find('\n') == r.err.size() - 1);

  r = run_pthrun("tokenize --decode -3");
  CHECK(r.status == 1);
  CHECK(r.err.starts_with("error: token id -3 is not in the vocabulary"));

  r = run_pthrun("tokenize --decode 1,x");
  CHECK(r.status == 2);
  CHECK(r.err == "error: --decode: expected comma-separated integers, got 'x' (see 'pthrun tokenize --help')\n");

  r = run_pthrun("tokenize");
  CHECK(r.status == 2);
  CHECK(r.err == "error: missing TEXT (or --file F) (see 'pthrun tokenize --help')\n");
  CHECK(run_pthrun("tokenize a --file /dev/null").status == 2);
  CHECK(run_pthrun("tokenize --decode 1 text").status == 2);
  CHECK(run_pthrun("tokenize --decode 1 --special").status == 2);
  CHECK(run_pthrun("tokenize a b").status == 2);

  r = run_pthrun("tokenize --file /nonexistent/input.txt");
  CHECK(r.status == 1);
  CHECK(r.err == "error: /nonexistent/input.txt: cannot open: No such file or directory\n");

  r = run_pthrun("tokenize --vocab /nonexistent/vocab hi");
  CHECK(r.status == 1);
  CHECK(r.err.starts_with("error: /nonexistent/vocab: expected encoder.json + vocab.bpe (OpenAI) or vocab.json"));

  r = run_pthrun("tokenize --help");
  CHECK(r.status == 0);
  CHECK(r.out.find("--special") != std::string::npos);
}

TEST_CASE("pthrun tokenize-bench prints its table") {
  const Result r = run_pthrun("tokenize-bench --mb 0.05 --repeats 1");
  CHECK(r.status == 0);
  CHECK(r.out.find("| encode, merge cache |") != std::string::npos);
  CHECK(r.out.find("| encode, no cache |") != std::string::npos);
  CHECK(r.out.find("| decode |") != std::string::npos);
  CHECK(run_pthrun("tokenize-bench --file /dev/null").status == 1);
}
