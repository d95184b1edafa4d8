// pthrun serve: an OpenAI-compatible HTTP server for one checkpoint (tools/server/).
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include "model/gpt2.h"
#include "model/tokenizer.h"
#include "runtime/allocator.h"
#include "runtime/dtype.h"
#include "runtime/error.h"
#include "tools/cli.h"
#include "tools/model_options.h"
#include "tools/server/server.h"

namespace pthrun::cli {

namespace {

struct ServeArgs {
  std::string checkpoint;
  std::string host = "127.0.0.1";
  int64_t port = 8080, slots = 4, context = 0, max_queue = 64, max_body = 1 << 20, http_threads = 0;
  double shutdown_timeout = 30;
  std::optional<std::string> api_key, vocab_dir, name;
  ModelArgs model;
};

// SIGINT and SIGTERM ask for a graceful stop; a second one ends the process at once.
std::atomic<int> stop_signals{0};

void on_stop_signal(int signal) {
  if (stop_signals.fetch_add(1) >= 1) {
    std::signal(signal, SIG_DFL);
    std::raise(signal);
  }
}

int run_serve(const ServeArgs& args) {
  // The key is read here, once: from the option, else from the environment.
  std::string api_key = args.api_key.value_or("");
  if (!args.api_key)
    if (const char* env = std::getenv("PTHRUN_API_KEY")) api_key = env;

  // Everything that can be checked is checked before listening and loading.
  ModelOptions model_opts = model_options(args.model);
  Tokenizer tokenizer = args.vocab_dir ? Tokenizer::load(*args.vocab_dir) : Tokenizer::load_default();
  const Gpt2Config config = Gpt2Model::read_config(args.checkpoint, model_opts);
  // A vocabulary padded beyond the tokenizer's (nanoGPT's 50304) is served; ids past the
  // tokenizer's are never sampled (EngineOptions -> SessionOptions::sample_vocab).
  PTHRUN_CHECK(tokenizer.vocab_size() <= config.vocab_size, args.checkpoint, ": the model's vocabulary has ",
               config.vocab_size, " ids, fewer than the tokenizer's (", tokenizer.source(), ") ", tokenizer.vocab_size(),
               ": serve needs the model's own tokenizer (--vocab DIR)");
  PTHRUN_CHECK(args.context <= config.context, "--ctx ", args.context, ": more than the model's context of ",
               config.context);

  serve::ServerOptions options;
  options.host = args.host;
  options.port = static_cast<int>(args.port);
  options.api_key = api_key;
  options.max_body_bytes = static_cast<std::size_t>(args.max_body);
  options.http_threads = static_cast<int>(args.http_threads > 0 ? args.http_threads
                                                                 : std::min<int64_t>(args.slots + args.max_queue + 8, 512));
  serve::Server server(options);
  const int port = server.bind();
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  server.start();
  std::fprintf(stderr, "pthrun serve: listening on http://%s:%d (loading %s)%s\n", args.host.c_str(), port,
               args.checkpoint.c_str(), api_key.empty() ? "" : "; an API key is required");

  auto backend = std::make_shared<serve::Backend>(std::move(tokenizer));
  backend->model_name = args.name.value_or(std::filesystem::path(args.checkpoint).filename().string());
  backend->model = Gpt2Model::load(args.checkpoint, model_opts);
  backend->loaded_at = static_cast<int64_t>(std::time(nullptr));
  print_notes();  // now, not when the server stops
  backend->engine = std::make_unique<serve::Engine>(
      backend->model, &backend->tokenizer,
      serve::EngineOptions{.slots = args.slots, .context = args.context, .max_queue = args.max_queue,
                           .stop_token = backend->tokenizer.eot_id()},
      &server.metrics());
  server.metrics().sample_memory(device_allocator(backend->model->device()));
  server.set_backend(backend);
  std::fprintf(stderr, "pthrun serve: ready: %s on %s (%s), %lld slots of %lld tokens\n", backend->model_name.c_str(),
               backend->model->device().to_string().c_str(), dtype_short_name(backend->model->dtype()),
               static_cast<long long>(args.slots), static_cast<long long>(backend->engine->context()));

  while (stop_signals.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::fprintf(stderr, "pthrun serve: stopping: no new requests; running ones have %.0f s to finish\n",
               args.shutdown_timeout);
  server.shutdown(std::chrono::milliseconds(static_cast<int64_t>(args.shutdown_timeout * 1000)));
  std::fprintf(stderr, "pthrun serve: stopped\n");
  return 0;
}

}  // namespace

extern const Command serve_command = {
    "serve", "Serve a checkpoint over HTTP with OpenAI's completions API",
    [](CLI::App& app) {
      auto args = std::make_shared<ServeArgs>();
      app.add_option("CKPT", args->checkpoint, "the checkpoint")->required();
      app.add_option("--host", args->host, "address to listen on (default 127.0.0.1: this machine only)")
          ->type_name("ADDR");
      app.add_option("--port", args->port, "port (default 8080; 0: any free port, printed at start)")
          ->type_name("N")
          ->check(integer_in(0, 65535));
      app.add_option("--slots", args->slots, "sequences generated at once (default 4)")
          ->type_name("N")
          ->check(integer_in(1, 256));
      app.add_option("--ctx", args->context, "tokens per slot: prompt plus completion (default: the model's context)")
          ->type_name("N")
          ->check(integer_in(1, 1 << 20));
      app.add_option("--max-queue", args->max_queue, "requests waiting for a slot before 503 (default 64)")
          ->type_name("N")
          ->check(integer_in(1, 4096));
      app.add_option("--api-key", args->api_key, "require 'Authorization: Bearer KEY' (default: $PTHRUN_API_KEY)")
          ->type_name("KEY");
      app.add_option("--max-body", args->max_body, "largest request body in bytes (default 1048576)")
          ->type_name("BYTES")
          ->check(integer_in(1024, 1 << 30));
      app.add_option("--http-threads", args->http_threads, "connections served at once (default slots + max-queue + 8)")
          ->type_name("N")
          ->check(integer_in(1, 4096));
      app.add_option("--shutdown-timeout", args->shutdown_timeout,
                     "on SIGINT/SIGTERM, seconds running requests get to finish (default 30)")
          ->type_name("S")
          ->check(number_in(0, 86400));
      app.add_option("--name", args->name, "the model's id in responses (default: the checkpoint's file name)")
          ->type_name("NAME");
      app.add_option("--vocab", args->vocab_dir, "tokenizer files (encoder.json + vocab.bpe, or vocab.json + merges.txt)")
          ->type_name("DIR");
      add_model_options(app, args->model);
      return [args] { return run_serve(*args); };
    },
    "Endpoints: POST /v1/completions (OpenAI's, streaming as server-sent events), GET /v1/models,\n"
    "GET /health, POST /tokenize, POST /detokenize, GET /metrics (Prometheus), GET / (a live page).\n"
    "SIGINT or SIGTERM: stop accepting, let running requests finish (--shutdown-timeout), exit 0."};

}  // namespace pthrun::cli
