// pthrun demo: the main job, with no arguments. A GPT-2 checkpoint sized to the machine is made
// once and cached; then the loading study (load-bench), a generation with the allocator traced,
// and the allocator's summary.
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "model/config.h"
#include "model/generate.h"
#include "model/gpt2.h"
#include "model/tokenizer.h"
#include "runtime/alloc_trace.h"
#include "runtime/alloc_config.h"
#include "runtime/allocator.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "tools/alloc_timeline.h"
#include "tools/cli.h"
#include "tools/model_options.h"
#include "tools/self_exec.h"

namespace pthrun::cli {

namespace {

namespace fs = std::filesystem;

struct DemoArgs {
  std::string device, config, cache, prompt = "Every effort moves you";
  int64_t max_new_tokens = 30;
};

fs::path cache_dir(const DemoArgs& args) {
  if (!args.cache.empty()) return args.cache;
  if (const char* dir = std::getenv("PTHRUN_CACHE"); dir && *dir) return dir;
  if (const char* dir = std::getenv("XDG_CACHE_HOME"); dir && *dir) return fs::path(dir) / "pthrun";
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".cache" / "pthrun";
  return fs::temp_directory_path() / "pthrun-cache";
}

// The largest GPT-2 that the naive strategy (weights twice) still fits: gpt2-xl on a large
// GPU, gpt2-small on the CPU (where every strategy costs host memory and minutes).
std::string pick_config(const DemoArgs& args, Device device) {
  if (!args.config.empty()) return args.config;
  if (device.is_cpu()) return "gpt2-small";
  const double free = static_cast<double>(device_allocator(device).device_free());
  std::size_t count = 0;
  const Gpt2Preset* all = presets(&count);
  std::string best = "gpt2-small";
  for (std::size_t i = 0; i < count; ++i) {
    const Gpt2Config c = preset_config(all[i]);  // in the book's naming: the head is not tied
    const double weights = 4.0 * (static_cast<double>(c.channels) * c.channels * 12 * c.layers +
                                  static_cast<double>(c.channels) * static_cast<double>(c.vocab_size * 2 + c.context));
    if (2.2 * weights < free) best = all[i].name;
  }
  return best;
}

void heading(const char* title) { std::printf("\n== %s\n\n", title); }

int run_demo(const DemoArgs& args) {
  // The trace must be on before the first allocation: allocators read their settings once.
  AllocatorConfig traced = allocator_config();
  traced.trace = true;
  configure_allocators(traced);

  const Device device = args.device.empty() ? default_device() : parse_device_option(args.device);
  const DeviceProperties props = device_properties(device);
  std::printf("pthrun demo on %s: %s, %s\n", device.to_string().c_str(), props.name.c_str(),
              format_bytes(static_cast<double>(props.total_memory)).c_str());

  const std::string config = pick_config(args, device);
  const fs::path dir = cache_dir(args);
  fs::create_directories(dir);
  const fs::path checkpoint = dir / (config + "-book-f32.pth");
  if (!fs::exists(checkpoint)) {
    heading("Making a checkpoint (once; it is cached)");
    std::printf("%s", run_self("init --config " + config + " -o " + shell_quote(checkpoint.string())).c_str());
  } else {
    std::printf("checkpoint: %s (cached)\n", checkpoint.string().c_str());
  }

  heading("Loading it six ways: the study (pthrun load-bench)");
  const fs::path load_svg = dir / "load-bench.svg";
  std::fputs(run_self("load-bench " + shell_quote(checkpoint.string()) + " --device " + device.to_string() +
                      " --svg " + shell_quote(load_svg.string()))
                 .c_str(),
             stdout);
  std::printf("chart: %s\n", load_svg.string().c_str());

  heading("Generating with the streaming loader (pthrun generate)");
  ModelOptions options;
  options.device = device;
  const auto model = Gpt2Model::load(checkpoint.string(), options);
  Tokenizer tokenizer = Tokenizer::load_default();
  const std::string& prompt = args.prompt;
  GenerationOptions generation;
  generation.max_new_tokens = args.max_new_tokens;
  generation.sampling = {.temperature = 0.8f, .top_k = 40, .top_p = 1.0f};
  generation.seed = 1;
  generation.stop_token = tokenizer.eot_id();
  std::printf("%s", prompt.c_str());
  GenerationResult result = generate(model, {tokenizer.encode(prompt)}, generation, [&](int64_t, int32_t token) {
    const std::string& bytes = tokenizer.token_bytes(token);
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    std::fflush(stdout);
  });
  std::printf("\n\n(the weights are random, so the text is noise: give pthrun generate a trained checkpoint)\n");
  std::printf("loaded %s in %.2f s (%.2f GB/s); prefill %.0f tokens/s; decode %.2f ms/token\n",
              format_bytes(static_cast<double>(model->weights().nbytes())).c_str(), model->load_stats().seconds,
              static_cast<double>(model->load_stats().bytes_read) / model->load_stats().seconds / 1e9,
              result.prefill_tokens_per_second(), result.decode_ms_per_token());

  heading("The allocator");
  const TraceDocument trace = capture_trace(device_allocator(device));
  const Fragmentation f = fragmentation(trace);
  const MemoryTimeline timeline = build_timeline(trace);
  std::printf("weights                  %s\n", format_bytes(static_cast<double>(model->weights().nbytes())).c_str());
  std::printf("peak allocated           %s\n", format_bytes(static_cast<double>(f.peak_allocated)).c_str());
  std::printf("peak reserved            %s (reserved / allocated %.4f)\n",
              format_bytes(static_cast<double>(f.peak_reserved)).c_str(), f.peak_ratio);
  std::printf("device allocations       %lld; cache hits %lld\n", static_cast<long long>(trace.stats.num_device_alloc),
              static_cast<long long>(trace.stats.num_cache_hits));
  for (std::size_t c = 0; c < timeline.categories.size(); ++c) {
    double peak = 0;
    for (double v : timeline.allocated[c]) peak = std::max(peak, v);
    std::printf("  %-22s %s\n", timeline.categories[c].c_str(), format_bytes(peak).c_str());
  }
  const fs::path trace_path = dir / "generate-trace.json";
  write_file_atomically(trace_path.string(), trace_to_json(trace));
  std::printf("trace: %s (pthrun alloc-report %s -o report.svg)\n", trace_path.string().c_str(),
              trace_path.string().c_str());
  return 0;
}

}  // namespace

extern const Command demo_command = {
    "demo", "The main job: make a GPT-2 checkpoint, compare ways to load it, generate, show the allocator",
    [](CLI::App& app) {
      auto args = std::make_shared<DemoArgs>();
      add_device_option(app, args->device, "cpu, cuda or cuda:N (default: cuda when present, else cpu)");
      add_preset_option(app, args->config, "checkpoint size (default: gpt2-xl on a large GPU, gpt2-small on the CPU)");
      app.add_option("--cache", args->cache, "where the checkpoint is kept (default: $PTHRUN_CACHE, else ~/.cache/pthrun)")
          ->type_name("DIR");
      app.add_option("-p,--prompt", args->prompt, "the prompt (default: \"Every effort moves you\")")->type_name("TEXT");
      app.add_option("-n,--max-new-tokens", args->max_new_tokens, "tokens to generate (default 30)")
          ->type_name("N")
          ->check(integer_in(1, 1024));
      return [args] { return run_demo(*args); };
    }};

}  // namespace pthrun::cli
