// pthrun load-bench: the study of loading strategies, each in a fresh process, measured with
// the same counters: device peak (allocator), host peak RSS and anonymous RSS, time, GB/s.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "model/gpt2.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/json.h"
#include "tools/cli.h"
#include "tools/load_strategies.h"
#include "tools/model_options.h"
#include "tools/self_exec.h"
#include "tools/svg_chart.h"

namespace pthrun::cli {

namespace {

namespace fs = std::filesystem;

// Reads the whole file once so that every strategy starts from the page cache.
uint64_t warm_page_cache(const fs::path& path) {
  uint64_t total = 0;
  auto read_one = [&](const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::vector<char> buffer(1 << 24);
    while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0)
      total += static_cast<uint64_t>(in.gcount());
  };
  if (fs::is_directory(path))
    for (const auto& entry : fs::directory_iterator(path)) read_one(entry.path());
  else
    read_one(path);
  return total;
}

void write_measurement(JsonWriter& out, const LoadMeasurement& m) {
  out.begin_object().key("strategy").value(m.strategy).key("seconds").value(m.seconds);
  out.key("device_peak_allocated").value(m.device_peak_allocated).key("device_peak_reserved").value(m.device_peak_reserved);
  out.key("host_peak_rss").value(m.host_peak_rss).key("host_peak_anon").value(m.host_peak_anon);
  out.key("weights_bytes").value(m.weights_bytes).key("file_bytes").value(m.file_bytes);
  out.end_object();
}

LoadMeasurement read_measurement(const JsonValue& j) {
  LoadMeasurement m;
  m.strategy = json_string(j, "strategy");
  m.seconds = json_double(j, "seconds");
  m.device_peak_allocated = json_int(j, "device_peak_allocated");
  m.device_peak_reserved = json_int(j, "device_peak_reserved");
  m.host_peak_rss = json_uint(j, "host_peak_rss");
  m.host_peak_anon = json_uint(j, "host_peak_anon");
  m.weights_bytes = json_uint(j, "weights_bytes");
  m.file_bytes = json_uint(j, "file_bytes");
  return m;
}

// The bytes of a checkpoint file, or of every file in a checkpoint folder.
uint64_t checkpoint_bytes(const fs::path& path) {
  if (!fs::is_directory(path)) return fs::file_size(path);
  uint64_t total = 0;
  for (const auto& entry : fs::directory_iterator(path))
    if (entry.is_regular_file()) total += entry.file_size();
  return total;
}

double gib(double bytes) { return bytes / (1024.0 * 1024 * 1024); }

struct LoadBenchArgs {
  std::string checkpoint, strategy, per_tensor_dir;
  std::optional<std::string> svg;
  bool json = false;
  ModelArgs model;
};

int run_load_bench(const LoadBenchArgs& args) {
  const std::string checkpoint = fs::absolute(args.checkpoint).string();
  LoadRun run{checkpoint, args.per_tensor_dir, cpu_device, std::nullopt};
  const ModelOptions options = model_options(args.model);
  run.device = options.device.value_or(default_device());
  run.heads = options.heads;
  run.allow_unused = options.allow_unused;
  const std::string model_args = (run.heads ? str(" --heads ", *run.heads) : std::string()) +
                                 (run.allow_unused ? " --allow-unused" : "");
  const std::string device_arg = " --device " + run.device.to_string() + model_args;

  // One strategy, in this process: what the children run.
  if (!args.strategy.empty()) {
    LoadMeasurement m = measure_strategy(args.strategy, run);
    m.file_bytes = checkpoint_bytes(checkpoint);
    JsonWriter out;
    write_measurement(out, m);
    std::printf("%s\n", out.text().c_str());
    return 0;
  }

  // The checkpoint is checked here first: a bad one is one error, not one per child.
  (void)Gpt2Model::read_config(checkpoint, options);
  // The per-tensor strategy needs the checkpoint as a folder of files: made once, not timed.
  const fs::path folder = fs::temp_directory_path() / str("pthrun-load-bench-", ::getpid(), "-per-tensor");
  fs::remove_all(folder);
  run_self("convert " + shell_quote(checkpoint) + " --per-tensor -o " + shell_quote(folder.string()) + model_args);
  std::vector<LoadMeasurement> results;
  try {
    for (const LoadStrategy& strategy : load_strategies()) {
      warm_page_cache(checkpoint);
      if (std::string(strategy.key) == "per_tensor") warm_page_cache(folder);
      std::fprintf(stderr, "load-bench: %s ...\n", strategy.key);
      const std::string json = run_self("load-bench " + shell_quote(checkpoint) + " --strategy " + strategy.key +
                                        device_arg + " --per-tensor-dir " + shell_quote(folder.string()));
      results.push_back(read_measurement(parse_json(json)));
    }
  } catch (...) {
    fs::remove_all(folder);
    throw;
  }
  fs::remove_all(folder);

  const double file_bytes = static_cast<double>(checkpoint_bytes(checkpoint));
  if (args.json) {
    JsonWriter out;
    out.begin_object().key("checkpoint").value(checkpoint).key("device").value(run.device.to_string());
    out.key("file_bytes").value(file_bytes).key("results").begin_array();
    for (const LoadMeasurement& m : results) write_measurement(out, m);
    out.end_array().end_object();
    std::printf("%s\n", out.text().c_str());
  } else {
    std::printf("load-bench: %s (%.2f GiB) onto %s, each strategy in a fresh process, from the page cache\n\n",
                checkpoint.c_str(), gib(file_bytes), run.device.to_string().c_str());
    std::printf("%-11s %-64s %12s %12s %12s %8s %7s\n", "strategy", "", "device peak", "host RSS", "host anon",
                "time s", "GB/s");
    for (std::size_t i = 0; i < results.size(); ++i) {
      const LoadMeasurement& m = results[i];
      std::printf("%-11s %-64s %8.2f GiB %8.2f GiB %8.2f GiB %8.2f %7.2f\n", m.strategy.c_str(),
                  load_strategies()[i].description, gib(static_cast<double>(m.device_peak_allocated)),
                  gib(static_cast<double>(m.host_peak_rss)), gib(static_cast<double>(m.host_peak_anon)), m.seconds,
                  file_bytes / m.seconds / 1e9);
    }
    std::printf("\nweights: %.2f GiB. device peak: the allocator's peak allocated bytes; host RSS: the kernel's\n"
                "peak resident set (mapped file pages included); host anon: sampled peak of anonymous memory.\n",
                gib(static_cast<double>(results.back().weights_bytes)));
  }
  if (const auto& svg = args.svg) {
    BarChart chart{str("Loading ", fs::path(checkpoint).filename().string(), " onto ", run.device.to_string()), "GiB",
                   {}, {{"device peak", {}}, {"host peak RSS", {}}, {"host peak anonymous", {}}}};
    for (const LoadMeasurement& m : results) {
      chart.categories.push_back(str(m.strategy, "\n", static_cast<int>(m.seconds * 100) / 100.0, " s"));
      chart.series[0].values.push_back(gib(static_cast<double>(m.device_peak_allocated)));
      chart.series[1].values.push_back(gib(static_cast<double>(m.host_peak_rss)));
      chart.series[2].values.push_back(gib(static_cast<double>(m.host_peak_anon)));
    }
    write_file_atomically(*svg, render(chart));
  }
  return 0;
}

}  // namespace

extern const Command load_bench_command = {
    "load-bench", "Compare ways of loading a checkpoint onto a device: memory peaks and time",
    [](CLI::App& app) {
      auto args = std::make_shared<LoadBenchArgs>();
      app.add_option("CKPT", args->checkpoint, "the checkpoint")->required();
      app.add_flag("--json", args->json, "print JSON");
      app.add_option("--svg", args->svg, "draw the memory peaks as a bar chart")->type_name("FILE");
      app.add_option("--strategy", args->strategy, "run one strategy in this process and print its measurement as JSON")
          ->type_name("KEY");
      app.add_option("--per-tensor-dir", args->per_tensor_dir,
                     "with --strategy per_tensor: the checkpoint as one file per tensor")
          ->type_name("DIR");
      add_model_options(app, args->model);
      return [args] { return run_load_bench(*args); };
    },
    "Strategies: naive, sequential, meta, mmap, per_tensor (PyTorch's, re-created natively) and\n"
    "pthrun (the streaming loader). Each runs in a fresh child process after the file has been\n"
    "read once, so all start from the page cache."};

}  // namespace pthrun::cli
