// Small SVG charts for reports: a stacked step-area chart over time (allocator timelines) and
// a grouped bar chart (load strategies). Self-contained SVG 1.1 that browsers and rsvg-convert
// render alike.
//
//   StackedAreaChart chart{"Device memory", "time (ms)", times, {{"weights", w}, {"kv_cache", k}},
//                          {{"reserved", r}}};
//   write_file_atomically("report.svg", render(chart));
#pragma once

#include <string>
#include <vector>

namespace pthrun::cli {

struct ChartSeries {
  std::string name;
  std::vector<double> values;
};

struct StackedAreaChart {
  std::string title;
  std::string x_label;
  std::vector<double> x;             // ascending
  std::vector<ChartSeries> stacked;  // areas, bottom first; values in bytes
  std::vector<ChartSeries> lines;    // drawn over the areas; values in bytes
};

struct BarChart {
  std::string title;
  std::string unit;                      // axis label: "GiB", "s", "GB/s"
  std::vector<std::string> categories;   // groups along the x axis
  std::vector<ChartSeries> series;       // one bar per category each
};

std::string render(const StackedAreaChart& chart);
std::string render(const BarChart& chart);

// 1, 2 or 5 times a power of ten: a tick step giving at most `max_ticks` ticks up to `max`.
double nice_step(double max, int max_ticks);

}  // namespace pthrun::cli
