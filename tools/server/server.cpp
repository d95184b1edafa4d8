// The HTTP server: routes, the API key, OpenAI-shaped errors, one log line per request, a
// bounded pool of HTTP threads, and graceful shutdown.
#include "tools/server/server.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <string_view>
#include <thread>

#include "runtime/allocator.h"
#include "runtime/error.h"
#include "tools/server/api_error.h"
#include "tools/server/completion_request.h"
#include "tools/server/page.h"
#include "tools/server/server_state.h"
#include "tools/text_release.h"

namespace pthrun::serve {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

RequestLog& current_request_log() {
  thread_local RequestLog log;
  return log;
}

namespace {

// Paths and the methods they answer; anything else is 404, a known path with another method 405.
struct Route {
  const char* path;
  const char* method;
};
constexpr Route kRoutes[] = {{"/", "GET"},          {"/health", "GET"},    {"/v1/models", "GET"},
                             {"/metrics", "GET"},   {"/tokenize", "POST"}, {"/detokenize", "POST"},
                             {"/v1/completions", "POST"}};
// /v1/models/ followed by a model's name.
constexpr Route kModelRoute = {"/v1/models/{model}", "GET"};
constexpr std::string_view kModelPrefix = "/v1/models/";

const Route* find_route(const std::string& path) {
  for (const Route& route : kRoutes)
    if (path == route.path) return &route;
  if (path.size() > kModelPrefix.size() && path.starts_with(kModelPrefix)) return &kModelRoute;
  return nullptr;
}

// The path as a metrics label: arbitrary paths must not grow the label set.
std::string endpoint_label(const std::string& path) {
  const Route* route = find_route(path);
  return route ? route->path : "other";
}

// Compares in time that depends on the lengths only, not on where the strings differ.
bool same_key(const std::string& given, const std::string& expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ expected[i % std::max<std::size_t>(expected.size(), 1)]);
  return diff == 0;
}

bool authorized(const ServerOptions& options, const httplib::Request& req) {
  if (options.api_key.empty()) return true;
  const std::string header = req.get_header_value("Authorization");
  constexpr std::string_view bearer = "Bearer ";
  return header.starts_with(bearer) && same_key(header.substr(bearer.size()), options.api_key);
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, const ApiError& error) {
  if (error.status == 401) res.set_header("WWW-Authenticate", "Bearer");
  send_json(res, error.status, error_body(error));
}

// HTTP threads: a fixed pool whose queue of accepted connections is bounded. When it is full,
// accepting waits, and further clients wait in the kernel's listen backlog.
class BoundedPool : public httplib::TaskQueue {
 public:
  BoundedPool(int threads, std::size_t max_pending) : max_pending_(max_pending) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
  }
  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [this] { return jobs_.size() < max_pending_; });
    jobs_.push_back(std::move(fn));
    ready_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

 private:
  void work() {
    while (true) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        fn = std::move(jobs_.front());
        jobs_.pop_front();
        room_.notify_one();
      }
      fn();
    }
  }
  std::size_t max_pending_;
  std::vector<std::thread> threads_;
  std::deque<std::function<void()>> jobs_;
  std::mutex mutex_;
  std::condition_variable ready_, room_;
  bool stopping_ = false;
};

using ApiHandler = void (*)(Server::State&, Backend&, const httplib::Request&, httplib::Response&);

// The one model served, as OpenAI describes a model ("created": when it was loaded).
json model_object(const Backend& backend) {
  const Gpt2Config& c = backend.model->config();
  return {{"id", backend.model_name},
          {"object", "model"},
          {"created", backend.loaded_at},
          {"owned_by", "pthrun"},
          {"meta",
           {{"context", backend.engine->context()},
            {"vocab_size", c.vocab_size},
            {"layers", c.layers},
            {"channels", c.channels},
            {"slots", backend.engine->slots()},
            {"device", backend.model->device().to_string()},
            {"dtype", dtype_short_name(backend.model->dtype())}}}};
}

void models(Server::State&, Backend& backend, const httplib::Request&, httplib::Response& res) {
  send_json(res, 200, {{"object", "list"}, {"data", json::array({model_object(backend)})}});
}

// GET /v1/models/{model}: the served model under its name; any other name is 404, as OpenAI
// answers for a model that does not exist. (Completions take any name and answer with it.)
void model_by_name(Server::State&, Backend& backend, const httplib::Request& req, httplib::Response& res) {
  const std::string name = req.path.substr(kModelPrefix.size());
  if (name != backend.model_name)
    throw ApiError(404, str("the model '", name.substr(0, 200), "' does not exist: this server serves '",
                            backend.model_name, "'"), "model", "model_not_found");
  send_json(res, 200, model_object(backend));
}

void tokenize(Server::State& state, Backend& backend, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_request_body(req.body, {.max_bytes = state.options.max_body_bytes});
  for (const auto& [key, value] : body.items())
    if (key != "content") throw ApiError(400, str("unrecognized request argument: '", key, "'"), key);
  send_json(res, 200, {{"tokens", backend.encode(string_field(body, "content"))}});
}

void detokenize(Server::State& state, Backend& backend, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_request_body(req.body, {.max_bytes = state.options.max_body_bytes});
  for (const auto& [key, value] : body.items())
    if (key != "tokens") throw ApiError(400, str("unrecognized request argument: '", key, "'"), key);
  const std::vector<int32_t> ids =
      token_ids_field(body, "tokens", backend.model->config().vocab_size, state.options.max_body_bytes);
  send_json(res, 200, {{"content", sanitize_utf8(backend.tokenizer.decode(ids), true)}});
}

void metrics(Server::State& state, Backend& backend, const httplib::Request&, httplib::Response& res) {
  res.set_content(state.metrics.render(device_allocator(backend.model->device())), "text/plain; version=0.0.4");
}

void health(Server::State& state, const httplib::Request&, httplib::Response& res) {
  const std::shared_ptr<Backend> backend = state.ready();
  if (state.shutting_down.load()) {
    send_json(res, 503, {{"status", "shutting_down"}, {"error", error_body(ApiError(503, "the server is shutting down"))["error"]}});
  } else if (!backend) {
    send_json(res, 503, {{"status", "loading"}, {"error", error_body(ApiError(503, "the model is loading"))["error"]}});
  } else {
    const Engine& engine = *backend->engine;
    send_json(res, 200, {{"status", "ok"},
                         {"slots_idle", engine.slots() - engine.active_slots()},
                         {"slots_processing", engine.active_slots()},
                         {"queue_depth", engine.queued()}});
  }
}

// A route that needs the key and the model; errors become OpenAI's JSON.
httplib::Server::Handler api(Server::State& state, ApiHandler handler) {
  return [&state, handler](const httplib::Request& req, httplib::Response& res) {
    try {
      if (!authorized(state.options, req))
        throw ApiError(401, "a valid API key is required: 'Authorization: Bearer KEY'", "", "invalid_api_key");
      const std::shared_ptr<Backend> backend = state.ready();
      if (!backend) throw ApiError(503, "the model is loading", "", "loading");
      handler(state, *backend, req, res);
    } catch (const ApiError& e) {
      send_error(res, e);
    } catch (const std::bad_alloc&) {
      send_error(res, ApiError(503, "out of memory", "", "overloaded"));
    } catch (const std::exception& e) {
      send_error(res, ApiError(500, e.what()));
    }
  };
}

// Errors httplib raises itself (bad request line, body too large, no route) get a JSON body;
// a known path asked with another method is 405, and without the key any path but /health 401
// (the page checks its own key, which it also takes from the query string).
httplib::Server::HandlerResponse on_error(Server::State& state, const httplib::Request& req, httplib::Response& res) {
  if (!res.body.empty() || res.content_provider_) return httplib::Server::HandlerResponse::Unhandled;
  const Route* route = find_route(req.path);
  if ((res.status == 404 || res.status == 405) && req.path != "/health" && !authorized(state.options, req)) {
    send_error(res, ApiError(401, "a valid API key is required: 'Authorization: Bearer KEY'", "", "invalid_api_key"));
  } else if (res.status == 404 && route) {
    res.set_header("Allow", route->method);
    send_error(res, ApiError(405, str(req.method, " is not allowed on ", req.path, ": use ", route->method), "",
                             "method_not_allowed"));
  } else if (res.status == 404) {
    send_error(res, ApiError(404, str("no such endpoint: ", req.method, " ", req.path.substr(0, 200)), "", "not_found"));
  } else if (res.status == 413 && req.get_header_value("Content-Type").starts_with("application/x-www-form-urlencoded")) {
    // httplib caps form-encoded bodies at 8 KiB, whatever --max-body says.
    send_error(res, ApiError(413, "a form-encoded body is limited to 8 KiB: send JSON with 'Content-Type: application/json'",
                             "", "request_too_large"));
  } else if (res.status == 413) {
    send_error(res, ApiError(413, str("the request body is larger than the limit of ", state.options.max_body_bytes, " bytes"),
                             "", "request_too_large"));
  } else {
    send_error(res, ApiError(res.status, str("the request could not be handled (HTTP ", res.status, ")")));
  }
  return httplib::Server::HandlerResponse::Handled;
}

void log_request(Server::State& state, const httplib::Request& req, const httplib::Response& res) {
  RequestLog& log = current_request_log();
  const auto now = Clock::now();
  const double total = log.start == Clock::time_point{} ? 0 : std::chrono::duration<double>(now - log.start).count();
  state.metrics.count_request(endpoint_label(req.path), res.status);
  auto count = [](int64_t n) { return n < 0 ? std::string("-") : str(n); };
  auto seconds = [](double s) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3fs", s);
    return s < 0 ? std::string("-") : std::string(text);
  };
  const std::string path = sanitize_utf8(req.path.substr(0, 200), true);
  std::fprintf(stderr, "%s %s %d prompt=%s generated=%s ttft=%s total=%s\n", req.method.empty() ? "-" : req.method.c_str(),
               path.empty() ? "-" : path.c_str(), res.status, count(log.prompt_tokens).c_str(),
               count(log.generated_tokens).c_str(), seconds(log.first_token_seconds).c_str(), seconds(total).c_str());
  log = RequestLog{};
}

void install_routes(Server::State& state) {
  httplib::Server& http = state.http;
  const ServerOptions& options = state.options;
  http.new_task_queue = [&options] {
    return new BoundedPool(options.http_threads, static_cast<std::size_t>(options.http_threads));
  };
  http.set_payload_max_length(options.max_body_bytes);
  http.set_read_timeout(options.read_timeout_seconds, 0);
  http.set_write_timeout(options.read_timeout_seconds, 0);
  http.set_keep_alive_timeout(2);
  http.set_keep_alive_max_count(100);
  http.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    current_request_log() = RequestLog{.start = Clock::now()};
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // The page needs the key like every path but /health. A browser cannot send a header when it
  // opens a page, so the page also takes it as ?key= (the log never shows query strings).
  http.Get("/", [&state](const httplib::Request& req, httplib::Response& res) {
    const ServerOptions& o = state.options;
    if (!authorized(o, req) && !(req.has_param("key") && same_key(req.get_param_value("key"), o.api_key))) {
      send_error(res, ApiError(401, "a valid API key is required: open /?key=KEY, or send 'Authorization: Bearer KEY'",
                               "", "invalid_api_key"));
      return;
    }
    res.set_content(std::string(page_html()), "text/html; charset=utf-8");
  });
  http.Get("/health", [&state](const httplib::Request& req, httplib::Response& res) { health(state, req, res); });
  http.Get("/v1/models", api(state, models));
  http.Get(R"(/v1/models/.+)", api(state, model_by_name));
  http.Get("/metrics", api(state, metrics));
  http.Post("/tokenize", api(state, tokenize));
  http.Post("/detokenize", api(state, detokenize));
  http.Post("/v1/completions", api(state, handle_completion));
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [&state](const httplib::Request& req, httplib::Response& res) { return on_error(state, req, res); }));
  http.set_logger([&state](const httplib::Request& req, const httplib::Response& res) { log_request(state, req, res); });
}

}  // namespace

Server::Server(const ServerOptions& options) : state_(std::make_unique<State>()) {
  PTHRUN_CHECK(options.http_threads >= 1, "--http-threads ", options.http_threads, ": expected at least 1");
  state_->options = options;
  install_routes(*state_);
}

Server::~Server() { shutdown(std::chrono::milliseconds(0)); }

Metrics& Server::metrics() { return state_->metrics; }

void Server::set_backend(std::shared_ptr<Backend> backend) {
  std::lock_guard lock(state_->backend_mutex);
  state_->backend = std::move(backend);
}

int Server::bind() {
  const ServerOptions& o = state_->options;
  const int port = o.port == 0 ? state_->http.bind_to_any_port(o.host)
                               : (state_->http.bind_to_port(o.host, o.port) ? o.port : -1);
  PTHRUN_CHECK(port > 0, "cannot listen on ", o.host, ":", o.port, ": the address is in use or not available");
  return port;
}

void Server::start() {
  state_->listener = std::thread([this] { state_->http.listen_after_bind(); });
}

void Server::shutdown(std::chrono::milliseconds grace) {
  State& s = *state_;
  if (!s.listener.joinable()) return;
  s.shutting_down = true;
  const std::shared_ptr<Backend> backend = s.ready();
  if (backend) backend->engine->close();
  s.http.stop_accepting();  // no new connections; those open are served to their end
  const auto deadline = Clock::now() + grace;
  while (backend && !backend->engine->idle() && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (backend) backend->engine->cancel_all();
  s.listener.join();
}

}  // namespace pthrun::serve
