#include "tools/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "runtime/error.h"

namespace pthrun::cli {

namespace {

constexpr double kWidth = 900, kHeight = 460;
constexpr double kLeft = 80, kRight = 210, kTop = 40, kBottom = 50;
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", v);
  return text;
}

// Byte axis: the largest binary unit in which `max` is at least 1.
struct ByteUnit {
  double scale;
  const char* name;
};
ByteUnit byte_unit(double max) {
  if (max >= 1024.0 * 1024 * 1024) return {1024.0 * 1024 * 1024, "GiB"};
  if (max >= 1024.0 * 1024) return {1024.0 * 1024, "MiB"};
  if (max >= 1024.0) return {1024.0, "KiB"};
  return {1, "B"};
}

std::string tick_label(double v) {
  char text[32];
  std::snprintf(text, sizeof text, v == std::floor(v) ? "%.0f" : "%.3g", v);
  return text;
}

std::string header(const std::string& title) {
  return str("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", kWidth, "\" height=\"", kHeight,
             "\" viewBox=\"0 0 ", kWidth, " ", kHeight, "\" font-family=\"DejaVu Sans, Arial, sans-serif\" "
             "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
             "<text x=\"", kWidth / 2, "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">",
             escape(title), "</text>\n");
}

// Horizontal grid lines and labels for values 0..max (already in display units).
std::string y_axis(double max, const std::string& unit) {
  const double plot_h = kHeight - kTop - kBottom;
  const double step = nice_step(max, 6);
  std::string out;
  for (double v = 0; v <= max * 1.0000001; v += step) {
    const double y = kTop + plot_h * (1 - v / max);
    out += str("<line x1=\"", kLeft, "\" y1=\"", num(y), "\" x2=\"", kWidth - kRight, "\" y2=\"", num(y),
               "\" stroke=\"#ddd\"/>\n<text x=\"", kLeft - 6, "\" y=\"", num(y + 4), "\" text-anchor=\"end\">",
               tick_label(v), "</text>\n");
  }
  out += str("<text transform=\"translate(18,", kTop + plot_h / 2, ") rotate(-90)\" text-anchor=\"middle\">",
             escape(unit), "</text>\n");
  out += str("<line x1=\"", kLeft, "\" y1=\"", kHeight - kBottom, "\" x2=\"", kWidth - kRight, "\" y2=\"",
             kHeight - kBottom, "\" stroke=\"#333\"/>\n<line x1=\"", kLeft, "\" y1=\"", kTop, "\" x2=\"", kLeft,
             "\" y2=\"", kHeight - kBottom, "\" stroke=\"#333\"/>\n");
  return out;
}

std::string legend_entry(int index, const std::string& name, const std::string& colour, bool line) {
  const double x = kWidth - kRight + 16, y = kTop + 10 + 20 * index;
  std::string mark = line ? str("<line x1=\"", x, "\" y1=\"", y, "\" x2=\"", x + 14, "\" y2=\"", y, "\" stroke=\"",
                                colour, "\" stroke-width=\"2.5\"/>")
                          : str("<rect x=\"", x, "\" y=\"", y - 6, "\" width=\"14\" height=\"12\" fill=\"", colour, "\"/>");
  return str(mark, "<text x=\"", x + 20, "\" y=\"", y + 4, "\">", escape(name), "</text>\n");
}

}  // namespace

double nice_step(double max, int max_ticks) {
  if (!(max > 0)) return 1;
  const double raw = max / max_ticks;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) return m * power;
  return 10 * power;
}

std::string render(const StackedAreaChart& chart) {
  PTHRUN_CHECK(!chart.x.empty(), "a chart needs at least one point");
  const std::size_t n = chart.x.size();
  std::vector<double> top(n, 0);
  double max = 1;
  for (const ChartSeries& s : chart.stacked)
    for (std::size_t i = 0; i < n; ++i) max = std::max(max, top[i] += s.values[i]);
  for (const ChartSeries& s : chart.lines)
    for (double v : s.values) max = std::max(max, v);
  const ByteUnit unit = byte_unit(max);
  const double step = nice_step(max / unit.scale * 1.05, 6);
  const double y_max = std::ceil(max / unit.scale * 1.05 / step) * step;
  const double x0 = chart.x.front(), x1 = std::max(chart.x.back(), x0 + 1e-9);
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + plot_w * (x - x0) / (x1 - x0); };
  auto py = [&](double bytes) { return kTop + plot_h * (1 - bytes / unit.scale / y_max); };

  std::string svg = header(chart.title) + y_axis(y_max, unit.name);
  const double x_step = nice_step(x1 - x0, 8);
  for (double v = std::ceil(x0 / x_step) * x_step; v <= x1 * 1.0000001; v += x_step)
    svg += str("<text x=\"", num(px(v)), "\" y=\"", kHeight - kBottom + 16, "\" text-anchor=\"middle\">",
               tick_label(v), "</text>\n");
  svg += str("<text x=\"", kLeft + plot_w / 2, "\" y=\"", kHeight - 10, "\" text-anchor=\"middle\">",
             escape(chart.x_label), "</text>\n");

  // Areas as step functions: each value holds until the next point.
  std::vector<double> below(n, 0);
  int legend = 0;
  for (std::size_t s = 0; s < chart.stacked.size(); ++s) {
    const ChartSeries& series = chart.stacked[s];
    std::string upper, lower;
    for (std::size_t i = 0; i < n; ++i) {
      const double next_x = i + 1 < n ? chart.x[i + 1] : chart.x[i];
      const double y = below[i] + series.values[i];
      upper += str(num(px(chart.x[i])), ",", num(py(y)), " ", num(px(next_x)), ",", num(py(y)), " ");
      lower = str(num(px(next_x)), ",", num(py(below[i])), " ", num(px(chart.x[i])), ",", num(py(below[i])), " ") + lower;
      below[i] = y;
    }
    const char* colour = kPalette[s % std::size(kPalette)];
    svg += str("<polygon points=\"", upper, lower, "\" fill=\"", colour, "\" fill-opacity=\"0.85\"/>\n");
    svg += legend_entry(legend++, series.name, colour, false);
  }
  for (std::size_t s = 0; s < chart.lines.size(); ++s) {
    std::string points;
    for (std::size_t i = 0; i < n; ++i) {
      const double next_x = i + 1 < n ? chart.x[i + 1] : chart.x[i];
      points += str(num(px(chart.x[i])), ",", num(py(chart.lines[s].values[i])), " ", num(px(next_x)), ",",
                    num(py(chart.lines[s].values[i])), " ");
    }
    const char* colour = s == 0 ? "#222" : kPalette[(chart.stacked.size() + s) % std::size(kPalette)];
    svg += str("<polyline points=\"", points, "\" fill=\"none\" stroke=\"", colour,
               "\" stroke-width=\"2\" stroke-dasharray=\"6,3\"/>\n");
    svg += legend_entry(legend++, chart.lines[s].name, colour, true);
  }
  return svg + "</svg>\n";
}

std::string render(const BarChart& chart) {
  PTHRUN_CHECK(!chart.categories.empty() && !chart.series.empty(), "a bar chart needs categories and series");
  double max = 0;
  for (const ChartSeries& s : chart.series)
    for (double v : s.values) max = std::max(max, v);
  const double step = nice_step(max * 1.1, 6);
  const double y_max = std::max(step, std::ceil(max * 1.1 / step) * step);
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom - 30;
  const double group_w = plot_w / static_cast<double>(chart.categories.size());
  const double bar_w = group_w * 0.8 / static_cast<double>(chart.series.size());

  std::string svg = header(chart.title);
  const double axis_bottom = kTop + plot_h;
  for (double v = 0; v <= y_max * 1.0000001; v += step) {
    const double y = kTop + plot_h * (1 - v / y_max);
    svg += str("<line x1=\"", kLeft, "\" y1=\"", num(y), "\" x2=\"", kWidth - kRight, "\" y2=\"", num(y),
               "\" stroke=\"#ddd\"/>\n<text x=\"", kLeft - 6, "\" y=\"", num(y + 4), "\" text-anchor=\"end\">",
               tick_label(v), "</text>\n");
  }
  svg += str("<text transform=\"translate(18,", kTop + plot_h / 2, ") rotate(-90)\" text-anchor=\"middle\">",
             escape(chart.unit), "</text>\n");
  for (std::size_t c = 0; c < chart.categories.size(); ++c) {
    const double group_x = kLeft + group_w * static_cast<double>(c) + group_w * 0.1;
    for (std::size_t s = 0; s < chart.series.size(); ++s) {
      const double v = chart.series[s].values[c];
      const double h = plot_h * v / y_max;
      const double x = group_x + bar_w * static_cast<double>(s);
      svg += str("<rect x=\"", num(x), "\" y=\"", num(axis_bottom - h), "\" width=\"", num(bar_w * 0.92),
                 "\" height=\"", num(h), "\" fill=\"", kPalette[s % std::size(kPalette)], "\"/>\n");
    }
    // Category names may be long: wrap at spaces into lines of about 16 characters.
    std::vector<std::string> lines(1);
    std::string word;
    for (char ch : chart.categories[c] + " ") {
      if (ch != ' ') { word += ch; continue; }
      if (!lines.back().empty() && lines.back().size() + word.size() > 16) lines.emplace_back();
      lines.back() += (lines.back().empty() ? "" : " ") + word;
      word.clear();
    }
    for (std::size_t l = 0; l < lines.size(); ++l)
      svg += str("<text x=\"", num(group_x + group_w * 0.4), "\" y=\"", num(axis_bottom + 16 + 14 * l),
                 "\" text-anchor=\"middle\" font-size=\"11\">", escape(lines[l]), "</text>\n");
  }
  svg += str("<line x1=\"", kLeft, "\" y1=\"", axis_bottom, "\" x2=\"", kWidth - kRight, "\" y2=\"", axis_bottom,
             "\" stroke=\"#333\"/>\n");
  for (std::size_t s = 0; s < chart.series.size(); ++s)
    svg += legend_entry(static_cast<int>(s), chart.series[s].name, kPalette[s % std::size(kPalette)], false);
  return svg + "</svg>\n";
}

}  // namespace pthrun::cli
