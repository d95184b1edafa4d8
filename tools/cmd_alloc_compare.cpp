// pthrun alloc-compare: one workload (load, then generate) under each allocator mode, each in a
// fresh process: pthrun's caching allocator, no caching (every request to the device) and
// CUDA's stream-ordered pool (cudaMallocAsync, GPUs only).
#include <chrono>
#include <cstdio>
#include <vector>

#include "model/generate.h"
#include "model/gpt2.h"
#include "runtime/alloc_config.h"
#include "runtime/allocator.h"
#include "runtime/error.h"
#include "runtime/json.h"
#include "tools/cli.h"
#include "tools/model_options.h"
#include "tools/self_exec.h"

namespace pthrun::cli {

namespace {

constexpr const char* kModes[] = {"caching", "nocache", "async"};

struct AllocCompareArgs {
  std::string checkpoint, mode;
  int64_t prompt_tokens = 64, new_tokens = 32;
  ModelArgs model;
};

// The workload in this process, under the allocators it was configured with. The figures are
// read once the model is gone, so that its frees count too.
std::string run_workload(const AllocCompareArgs& args) {
  const auto start = std::chrono::steady_clock::now();
  ModelOptions options = model_options(args.model);
  Device device;
  double decode_ms = 0;
  {
    const auto model = Gpt2Model::load(args.checkpoint, options);
    device = model->device();
    PTHRUN_CHECK(args.prompt_tokens <= model->config().context, "--prompt-tokens ", args.prompt_tokens,
                 " is more than the model's context of ", model->config().context);
    std::vector<int32_t> prompt(static_cast<std::size_t>(args.prompt_tokens));
    for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((i * 7919 + 13) % model->config().vocab_size);
    GenerationOptions generation;
    generation.max_new_tokens = args.new_tokens;
    decode_ms = generate(model, {prompt}, generation).decode_ms_per_token();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const Allocator& allocator = device_allocator(device);
  const AllocatorStats s = allocator.stats();
  JsonWriter out;
  out.begin_object().key("mode").value(allocator.mode()).key("seconds").value(seconds);
  out.key("decode_ms_per_token").value(decode_ms);
  out.key("peak_allocated").value(s.allocated_bytes[all_pools].peak).key("peak_reserved").value(s.reserved_bytes[all_pools].peak);
  out.key("allocations").value(s.allocation[all_pools].allocated).key("device_allocs").value(s.num_device_alloc);
  out.key("device_frees").value(s.num_device_free).key("alloc_ns").value(s.alloc_ns).key("free_ns").value(s.free_ns);
  out.end_object();
  return out.take();
}

int run_alloc_compare(const AllocCompareArgs& args) {
  const std::string& checkpoint = args.checkpoint;
  if (!args.mode.empty()) {  // a child: one workload under this mode
    AllocatorConfig config = allocator_config();
    config.mode = AllocatorConfig::parse(str("mode:", args.mode)).mode;
    config.timing = true;
    configure_allocators(config);
    std::printf("%s\n", run_workload(args).c_str());
    return 0;
  }

  const Device device = model_options(args.model).device.value_or(default_device());
  std::string passed = str(" --device ", device.to_string(), " --dtype ", args.model.dtype, " --prompt-tokens ",
                           args.prompt_tokens, " --new-tokens ", args.new_tokens);
  if (args.model.heads) passed += str(" --heads ", *args.model.heads);
  if (!args.model.key.empty()) passed += " --key " + shell_quote(args.model.key);
  if (args.model.tf32) passed += " --tf32";
  std::printf("alloc-compare: %s on %s; load, then generate; each allocator in a fresh process\n\n",
              checkpoint.c_str(), device.to_string().c_str());
  std::printf("%-12s %12s %12s %9s %10s %10s %10s %10s %10s %8s\n", "allocator", "peak alloc", "peak reserv",
              "res/alloc", "requests", "dev allocs", "dev frees", "alloc ns", "free ns", "time s");
  for (const char* mode : kModes) {
    if (std::string(mode) == "async" && device.is_cpu()) {
      std::printf("%-12s (CUDA's stream-ordered pool needs a GPU)\n", "cuda-async");
      continue;
    }
    const JsonValue r = parse_json(run_self("alloc-compare " + shell_quote(checkpoint) + " --mode " + mode + passed));
    const double requests = static_cast<double>(std::max<int64_t>(json_int(r, "allocations"), 1));
    const double allocated = json_double(r, "peak_allocated"), reserved = json_double(r, "peak_reserved");
    std::printf("%-12s %12s %12s %9.4f %10lld %10lld %10lld %10.0f %10.0f %8.2f\n", json_string(r, "mode").c_str(),
                format_bytes(allocated).c_str(), format_bytes(reserved).c_str(), allocated > 0 ? reserved / allocated : 0,
                static_cast<long long>(json_int(r, "allocations")), static_cast<long long>(json_int(r, "device_allocs")),
                static_cast<long long>(json_int(r, "device_frees")), json_double(r, "alloc_ns") / requests,
                json_double(r, "free_ns") / requests, json_double(r, "seconds"));
  }
  std::printf("\nrequests: allocations made; alloc ns / free ns: mean time per allocate and per free over\n"
              "the whole workload, freeing the model included; time: load, generate and free.\n");
  return 0;
}

}  // namespace

extern const Command alloc_compare_command = {
    "alloc-compare", "Run load + generate under the caching allocator, no caching and cudaMallocAsync",
    [](CLI::App& app) {
      auto args = std::make_shared<AllocCompareArgs>();
      app.add_option("CKPT", args->checkpoint, "the checkpoint")->required();
      app.add_option("--prompt-tokens", args->prompt_tokens, "prompt length (default 64)")
          ->type_name("N")
          ->check(integer_in(1, 1 << 20));
      app.add_option("--new-tokens", args->new_tokens, "tokens to generate (default 32)")
          ->type_name("N")
          ->check(integer_in(1, 1 << 20));
      app.add_option("--mode", args->mode, "run the workload once in this process under MODE and print JSON")
          ->type_name("MODE")
          ->check(one_of({"caching", "nocache", "async"}));
      add_model_options(app, args->model);
      return [args] { return run_alloc_compare(*args); };
    }};

}  // namespace pthrun::cli
