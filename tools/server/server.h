// `pthrun serve`'s HTTP side (cpp-httplib): OpenAI's completions API, tokenizer endpoints,
// health, Prometheus metrics and a live page, in front of the engine (engine.h).
//
//   Server server({.host = "127.0.0.1", .port = 8080});
//   int port = server.bind();          // /health answers 503 "loading" from now on
//   server.start();
//   server.set_backend(backend);       // the model is loaded: 200, and the API answers
//   ...
//   server.shutdown(std::chrono::seconds(30));  // stop accepting, drain, then cancel
//
// HTTP threads parse, check, queue and stream; they never run the model. Every path but
// /health and the page itself needs the API key when one is set.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "model/gpt2.h"
#include "model/tokenizer.h"
#include "tools/server/engine.h"
#include "tools/server/metrics.h"

namespace pthrun::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                     // 0: any free port
  std::string api_key = {};            // "": no key needed
  std::size_t max_body_bytes = 1 << 20;
  int http_threads = 16;               // connections served at once
  int read_timeout_seconds = 5;        // a client slower than this is dropped
};

// What the server serves once the model is loaded.
struct Backend {
  explicit Backend(Tokenizer t) : tokenizer(std::move(t)) {}
  std::string model_name;
  int64_t loaded_at = 0;               // Unix seconds
  std::shared_ptr<const Gpt2Model> model;
  Tokenizer tokenizer;
  std::mutex encode_mutex;             // Tokenizer::encode is not thread-safe
  std::unique_ptr<Engine> engine;

  std::vector<int32_t> encode(const std::string& text) {
    std::lock_guard lock(encode_mutex);
    return tokenizer.encode(text);
  }
};

class Server {
 public:
  explicit Server(const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; returns its port. Throws pthrun::Error when it cannot.
  int bind();
  // Serves on a thread of its own.
  void start();
  void set_backend(std::shared_ptr<Backend> backend);
  Metrics& metrics();
  // Stops accepting; running requests go on until `grace` has passed, then are cancelled.
  // Returns once every connection is closed.
  void shutdown(std::chrono::milliseconds grace);

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace pthrun::serve
