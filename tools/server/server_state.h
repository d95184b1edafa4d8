// What the server's parts share (internal to tools/server): options, metrics, the backend
// once loaded, and the per-request log line the HTTP thread fills in as it answers.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include <httplib.h>
#include <sys/socket.h>

#include "tools/server/server.h"

namespace pthrun::serve {

// httplib's server, with a way to stop accepting that lets responses being written finish:
// httplib's stop() marks the server as shutting down, which cuts every stream in progress.
class HttpServer : public httplib::Server {
 public:
  // The listening socket stops accepting; the accept loop then ends, and listen_after_bind()
  // returns once every connection has been served.
  void stop_accepting() { ::shutdown(svr_sock_, SHUT_RDWR); }
};

struct Server::State {
  ServerOptions options;
  Metrics metrics;
  std::mutex backend_mutex;
  std::shared_ptr<Backend> backend;  // null while loading
  std::atomic<bool> shutting_down{false};
  HttpServer http;
  std::thread listener;

  std::shared_ptr<Backend> ready() {
    std::lock_guard lock(backend_mutex);
    return backend;
  }
};

// The request being answered on this thread, for its log line.
struct RequestLog {
  std::chrono::steady_clock::time_point start;
  int64_t prompt_tokens = -1, generated_tokens = -1;
  double first_token_seconds = -1;
};
RequestLog& current_request_log();

// POST /v1/completions (completions.cpp).
void handle_completion(Server::State& state, Backend& backend, const httplib::Request& req, httplib::Response& res);

}  // namespace pthrun::serve
