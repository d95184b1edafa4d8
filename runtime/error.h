// Errors pthrun throws, and the one family of check macros that raises them.
//
//   PTHRUN_CHECK(n <= limit, "entry ", name, ": ", n, " elements, expected at most ", limit);
//
// Every failure is an exception, never exit(): failure paths must be testable, and the CLI
// turns any pthrun::Error into one line on stderr and exit status 1. Messages speak to the
// user: which file, entry or argument, what was expected and what was found.
//
// The file and the entry an error concerns are fields of the error, not only text: code that
// reads a file adds them to every error passing through it (add_context), so a message from
// deep inside (an overflow, a JSON type check) cannot lose them:
//
//   try { parse(bytes); } catch (Error& e) { e.add_context({path, "entry " + printable(name)}); throw; }
//   PTHRUN_CHECK_AT(where, n <= limit, n, " elements, expected at most ", limit);
//
// what() is always one line of valid UTF-8 of bounded length: text from a file is quoted by
// the caller (runtime/quote.h), and the whole line passes through printable() once more.
#pragma once

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace pthrun {

// Where an error happened: the file, and the part of it when there is one.
struct ErrorContext {
  ErrorContext() = default;
  ErrorContext(std::string file, std::string entry = {}) : file(std::move(file)), entry(std::move(entry)) {}
  std::string file;   // a path, as given; printed through printable()
  std::string entry;  // printable text: "entry archive/data/0", "tensor 'wte.weight'"
};

// Base of everything pthrun throws on purpose. what() is "<file>: <entry>: <message>".
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : Error(ErrorContext{}, message) {}
  Error(ErrorContext context, const std::string& message);
  const char* what() const noexcept override { return text_.c_str(); }
  const std::string& message() const { return message_; }
  const ErrorContext& context() const { return context_; }
  // Fills in the file, and the entry, that this error does not name yet. An entry is only
  // added to an error about the same file (or about none).
  void add_context(const ErrorContext& context);

 private:
  void compose();
  ErrorContext context_;
  std::string message_;
  std::string text_;
};

// Runs f(); any pthrun::Error leaving it gets `context` added (see add_context).
template <typename F>
decltype(auto) with_context(const ErrorContext& context, F&& f) {
  try {
    return f();
  } catch (Error& e) {
    e.add_context(context);
    throw;
  }
}

// A bad command-line argument: the CLI exits with status 2 instead of 1.
class UsageError : public Error {
 public:
  using Error::Error;
};

// A failing CUDA runtime call; carries the expression, its location and CUDA's message.
class CudaError : public Error {
 public:
  CudaError(int code, const std::string& message) : Error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// A failing cuBLAS call, likewise.
class CublasError : public Error {
 public:
  CublasError(int status, const std::string& message) : Error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// The allocator could not satisfy a request even after releasing its cache.
class OutOfMemory : public Error {
 public:
  OutOfMemory(std::size_t requested_bytes, const std::string& message)
      : Error(message), requested_bytes_(requested_bytes) {}
  std::size_t requested_bytes() const { return requested_bytes_; }

 private:
  std::size_t requested_bytes_;
};

// Concatenates anything that streams into one string: str("entry ", name, " has ", n, " bytes").
template <typename... Args>
std::string str(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}

// "1.50 GiB", "512 B": byte counts for people.
std::string format_bytes(double bytes);

}  // namespace pthrun

// Throws pthrun::Error with the concatenated message when the condition is false.
#define PTHRUN_CHECK(cond, ...)                           \
  do {                                                    \
    if (!(cond)) throw ::pthrun::Error(::pthrun::str(__VA_ARGS__)); \
  } while (0)

// The same, the error naming the file and entry of `context` (an ErrorContext).
#define PTHRUN_CHECK_AT(context, cond, ...)                                    \
  do {                                                                         \
    if (!(cond)) throw ::pthrun::Error((context), ::pthrun::str(__VA_ARGS__)); \
  } while (0)

// An internal invariant: a failure is a pthrun bug, so the message carries the location.
#define PTHRUN_ASSERT(cond)                                                              \
  do {                                                                                   \
    if (!(cond))                                                                         \
      throw ::pthrun::Error(::pthrun::str("internal error: ", #cond, " failed in ", __func__, \
                                          " (", __FILE__, ":", __LINE__, ")"));          \
  } while (0)
