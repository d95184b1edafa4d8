// Errors pthrun throws, and the one family of check macros that raises them.
//
//   PTHRUN_CHECK(n <= limit, "entry ", name, ": ", n, " elements, expected at most ", limit);
//
// Every failure is an exception, never exit(): failure paths must be testable, and the CLI
// turns any pthrun::Error into one line on stderr and exit status 1. Messages speak to the
// user: which file, entry or argument, what was expected and what was found.
#pragma once

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace pthrun {

// Base of everything pthrun throws on purpose.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

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

// An internal invariant: a failure is a pthrun bug, so the message carries the location.
#define PTHRUN_ASSERT(cond)                                                              \
  do {                                                                                   \
    if (!(cond))                                                                         \
      throw ::pthrun::Error(::pthrun::str("internal error: ", #cond, " failed in ", __func__, \
                                          " (", __FILE__, ":", __LINE__, ")"));          \
  } while (0)
