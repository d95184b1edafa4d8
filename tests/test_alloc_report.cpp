// Allocator traces turned into timelines and fragmentation figures (tools/alloc_timeline.h).
#include <doctest/doctest.h>

#include <memory>

#include "runtime/alloc_trace.h"
#include "runtime/caching_allocator.h"
#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/memory_backend.h"
#include "tests/test_backend.h"
#include "tests/cli_runner.h"
#include "tools/alloc_timeline.h"
#include "tools/svg_chart.h"

using namespace pthrun;
using pthrun::test::TestBackend;
using namespace pthrun::cli;

namespace {

constexpr std::size_t MiB = 1 << 20;

// rsvg-convert (librsvg, one of the test dependencies) parses a chart as an image viewer does
// and rasterises it: malformed XML or SVG fails here, where a text search would not notice.
void check_renders_as_png(const std::string& svg) {
  if (std::system("command -v rsvg-convert >/dev/null 2>&1") != 0) {
    MESSAGE("rsvg-convert is not installed: the chart was not rendered");
    return;
  }
  test::TempDir dir("chart");
  write_file_atomically(dir / "chart.svg", svg);
  const std::string command = "rsvg-convert -o " + test::quote(dir / "chart.png") + " " + test::quote(dir / "chart.svg");
  REQUIRE(std::system(command.c_str()) == 0);
  const std::string png = read_file(dir / "chart.png");
  CHECK(png.rfind("\x89PNG", 0) == 0);
  CHECK(png.size() > 2000);  // axes, bars and text, not an empty canvas
}

// weights 4 MiB (kept; a segment of its own), activations 1 MiB + 512 (a new 2 MiB segment;
// freed), kv_cache 2 MiB (kept: a cache hit on that 2 MiB segment).
TraceDocument record(std::size_t ring) {
  AllocatorConfig config = AllocatorConfig::parse(str("trace:1,trace_entries:", ring));
  CachingAllocator alloc(std::make_unique<TestBackend>(std::size_t(1) << 34), config);
  Allocation weights, kv;
  {
    AllocScope scope("weights");
    AllocScope tensor("wte");
    weights = alloc.allocate(4 * MiB);
  }
  {
    AllocScope scope("activations");
    Allocation x = alloc.allocate(1 * MiB + 512);
  }
  {
    AllocScope scope("kv_cache");
    kv = alloc.allocate(2 * MiB);
  }
  return capture_trace(alloc);
}

}  // namespace

TEST_CASE("a timeline stacks allocated bytes by scope and follows reserved bytes") {
  const TraceDocument trace = record(1000);
  // segment(4) alloc(w) segment(2) alloc(x) free(x) alloc(kv)
  REQUIRE(trace.events.size() == 6);
  const MemoryTimeline t = build_timeline(trace);
  CHECK(t.categories == std::vector<std::string>{"weights", "activations", "kv_cache"});
  CHECK(t.allocated[0] == std::vector<double>{0, 4.0 * MiB, 4.0 * MiB, 4.0 * MiB, 4.0 * MiB, 4.0 * MiB});
  CHECK(t.allocated[1] == std::vector<double>{0, 0, 0, 1.0 * MiB + 512, 0, 0});
  CHECK(t.allocated[2] == std::vector<double>{0, 0, 0, 0, 0, 2.0 * MiB});
  CHECK(t.reserved == std::vector<double>{4.0 * MiB, 4.0 * MiB, 6.0 * MiB, 6.0 * MiB, 6.0 * MiB, 6.0 * MiB});
  CHECK(t.time_ms.size() == 6);

  const Fragmentation f = fragmentation(trace);
  CHECK(f.peak_allocated == 6 * MiB);
  CHECK(f.peak_reserved == 6 * MiB);
  CHECK(f.peak_ratio == 1.0);
  CHECK(f.segments == 2);
  CHECK(f.largest_free_block == 0);
  CHECK(f.free_bytes == 0);
}

TEST_CASE("a trace whose ring dropped early events is anchored at its final snapshot") {
  const TraceDocument trace = record(3);  // keeps: alloc(x), free(x), alloc(kv)
  REQUIRE(trace.dropped == 3);
  const MemoryTimeline t = build_timeline(trace);
  CHECK(t.categories == std::vector<std::string>{"activations", "kv_cache", "weights"});
  // Weights and both segments came before the window: they are there from its first point on.
  CHECK(t.allocated[2] == std::vector<double>{4.0 * MiB, 4.0 * MiB, 4.0 * MiB});
  CHECK(t.allocated[0] == std::vector<double>{1.0 * MiB + 512, 0, 0});
  CHECK(t.allocated[1] == std::vector<double>{0, 0, 2.0 * MiB});
  CHECK(t.reserved == std::vector<double>{6.0 * MiB, 6.0 * MiB, 6.0 * MiB});
}

TEST_CASE("long traces are bucketed, each bucket keeping its peak") {
  const TraceDocument trace = record(1000);
  const MemoryTimeline t = build_timeline(trace, 3);  // buckets of 2 events
  REQUIRE(t.time_ms.size() == 3);
  CHECK(t.allocated[1] == std::vector<double>{0, 1.0 * MiB + 512, 0});
}

TEST_CASE("charts") {
  CHECK(nice_step(7.3, 6) == 2);
  CHECK(nice_step(100, 5) == 20);
  CHECK(nice_step(0.9, 6) == doctest::Approx(0.2));
  StackedAreaChart chart{"t", "time (ms)", {0, 1, 2}, {{"weights", {1, 2, 3}}}, {{"reserved", {4, 4, 4}}}};
  const std::string svg = render(chart);
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("weights") != std::string::npos);
  CHECK(svg.find("</svg>") != std::string::npos);
  check_renders_as_png(svg);
  BarChart bars{"b", "GiB", {"a <&> b", "c"}, {{"peak", {1, 2}}, {"rss", {0.5, 3}}}};
  const std::string bar_svg = render(bars);
  CHECK(bar_svg.find("a &lt;&amp;&gt; b") != std::string::npos);
  check_renders_as_png(bar_svg);
}
