#include "bench/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace wake::bench {
namespace {

constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string Label(double v) {
  char buf[32];
  if (v != 0 && std::fabs(v) < 1) {
    std::snprintf(buf, sizeof buf, "%.2g", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  }
  return buf;
}

std::string Text(double x, double y, const std::string& s, const char* anchor = "start", int size = 12) {
  return "<text x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" font-size=\"" + std::to_string(size) +
         "\" text-anchor=\"" + anchor + "\">" + Escape(s) + "</text>\n";
}

std::string Line(double x1, double y1, double x2, double y2, const char* stroke, double width = 1) {
  return "<line x1=\"" + Num(x1) + "\" y1=\"" + Num(y1) + "\" x2=\"" + Num(x2) + "\" y2=\"" + Num(y2) +
         "\" stroke=\"" + stroke + "\" stroke-width=\"" + Num(width) + "\"/>\n";
}

// "Nice" tick values covering [lo, hi] on a linear axis.
std::vector<double> LinearTicks(double lo, double hi) {
  const double span = std::max(hi - lo, 1e-9);
  const double raw = span / 6;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-6; t += step) ticks.push_back(t);
  return ticks;
}

std::string Header(int width, int height, const std::string& title) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
         std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) +
         "\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n" +
         Text(width / 2.0, 22, title, "middle", 15);
}

}  // namespace

std::string CdfSvg(const std::string& title, const std::string& x_label, const std::vector<CdfSeries>& series,
                   bool log_x) {
  constexpr int kW = 760, kH = 440;
  constexpr double kLeft = 60, kRight = 170, kTop = 40, kBottom = 50;
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  double lo = INFINITY, hi = -INFINITY;
  for (const CdfSeries& s : series) {
    for (double v : s.values) {
      if (log_x && v <= 0) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (!(lo <= hi)) lo = hi = 1;
  auto tx = [&](double v) -> double { return v; };
  std::vector<double> ticks;
  if (log_x) {
    lo = std::pow(10, std::floor(std::log10(lo)));
    hi = std::pow(10, std::ceil(std::log10(hi)));
    if (hi <= lo) hi = lo * 10;
    for (double d = lo; d <= hi * 1.0001; d *= 10) {
      for (double m : {1.0, 2.0, 5.0}) {
        if (d * m <= hi * 1.0001) ticks.push_back(d * m);
      }
    }
  } else {
    lo = std::min(lo, 0.0);
    if (hi <= lo) hi = lo + 1;
    ticks = LinearTicks(lo, hi);
    hi = std::max(hi, ticks.back());
  }
  const double flo = log_x ? std::log10(lo) : lo, fhi = log_x ? std::log10(hi) : hi;
  auto px = [&](double v) { return kLeft + ((log_x ? std::log10(tx(v)) : v) - flo) / (fhi - flo) * pw; };
  auto py = [&](double q) { return kTop + (1 - q) * ph; };

  std::string svg = Header(kW, kH, title);
  for (double q = 0; q <= 1.0001; q += 0.1) {
    svg += Line(kLeft, py(q), kLeft + pw, py(q), "#e6e6e6");
    svg += Text(kLeft - 6, py(q) + 4, Label(q), "end", 11);
  }
  for (double t : ticks) {
    svg += Line(px(t), kTop, px(t), kTop + ph, "#e6e6e6");
    svg += Text(px(t), kTop + ph + 16, Label(t), "middle", 11);
  }
  svg += Line(kLeft, kTop + ph, kLeft + pw, kTop + ph, "black");
  svg += Line(kLeft, kTop, kLeft, kTop + ph, "black");
  svg += Text(kLeft + pw / 2, kH - 12, x_label, "middle");
  svg += "<text x=\"16\" y=\"" + Num(kTop + ph / 2) + "\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
         Num(kTop + ph / 2) + ")\">fraction of turns</text>\n";
  for (size_t i = 0; i < series.size(); ++i) {
    std::vector<double> v;
    for (double x : series[i].values) {
      if (!log_x || x > 0) v.push_back(x);
    }
    std::sort(v.begin(), v.end());
    const char* color = kPalette[i % std::size(kPalette)];
    if (!v.empty()) {
      std::string points = Num(px(v[0])) + "," + Num(py(0));
      for (size_t k = 0; k < v.size(); ++k) {
        const double q0 = static_cast<double>(k) / static_cast<double>(v.size());
        const double q1 = static_cast<double>(k + 1) / static_cast<double>(v.size());
        points += " " + Num(px(v[k])) + "," + Num(py(q0)) + " " + Num(px(v[k])) + "," + Num(py(q1));
      }
      svg += "<polyline fill=\"none\" stroke=\"" + std::string(color) + "\" stroke-width=\"2\" points=\"" + points +
             "\"/>\n";
    }
    const double ly = kTop + 10 + 20 * static_cast<double>(i);
    svg += Line(kLeft + pw + 15, ly, kLeft + pw + 40, ly, color, 3);
    svg += Text(kLeft + pw + 46, ly + 4, series[i].name + " (n=" + std::to_string(v.size()) + ")");
  }
  return svg + "</svg>\n";
}

std::string StackedBarsSvg(const std::string& title, const std::string& x_label,
                           const std::vector<std::string>& components, const std::vector<StackedBar>& bars) {
  constexpr int kW = 760;
  constexpr double kLeft = 110, kRight = 60, kTop = 40, kBar = 28, kGap = 14;
  const double legend_rows = std::ceil(static_cast<double>(components.size()) / 4);
  const double ph = static_cast<double>(bars.size()) * (kBar + kGap);
  const int height = static_cast<int>(kTop + ph + 45 + legend_rows * 20 + 10);
  const double pw = kW - kLeft - kRight;
  double hi = 0;
  for (const StackedBar& b : bars) {
    double total = 0;
    for (double s : b.segments) total += std::max(0.0, s);
    hi = std::max(hi, total);
  }
  if (hi <= 0) hi = 1;
  const std::vector<double> ticks = LinearTicks(0, hi);
  hi = std::max(hi, ticks.back());
  auto px = [&](double v) { return kLeft + v / hi * pw; };

  std::string svg = Header(kW, height, title);
  for (double t : ticks) {
    svg += Line(px(t), kTop, px(t), kTop + ph, "#e6e6e6");
    svg += Text(px(t), kTop + ph + 16, Label(t), "middle", 11);
  }
  svg += Line(kLeft, kTop + ph, kLeft + pw, kTop + ph, "black");
  svg += Text(kLeft + pw / 2, kTop + ph + 34, x_label, "middle");
  for (size_t i = 0; i < bars.size(); ++i) {
    const double y = kTop + kGap / 2 + static_cast<double>(i) * (kBar + kGap);
    svg += Text(kLeft - 8, y + kBar / 2 + 4, bars[i].name, "end");
    double at = 0;
    for (size_t c = 0; c < bars[i].segments.size() && c < components.size(); ++c) {
      const double w = std::max(0.0, bars[i].segments[c]);
      if (w <= 0) continue;
      svg += "<rect x=\"" + Num(px(at)) + "\" y=\"" + Num(y) + "\" width=\"" + Num(px(at + w) - px(at)) +
             "\" height=\"" + Num(kBar) + "\" fill=\"" + kPalette[c % std::size(kPalette)] + "\"><title>" +
             Escape(components[c]) + ": " + Label(w) + "</title></rect>\n";
      at += w;
    }
    svg += Text(px(at) + 4, y + kBar / 2 + 4, Label(at), "start", 11);
  }
  const double ly = kTop + ph + 50;
  for (size_t c = 0; c < components.size(); ++c) {
    const double x = 20 + static_cast<double>(c % 4) * 185;
    const double y = ly + std::floor(static_cast<double>(c) / 4) * 20;
    svg += "<rect x=\"" + Num(x) + "\" y=\"" + Num(y - 10) + "\" width=\"14\" height=\"12\" fill=\"" +
           kPalette[c % std::size(kPalette)] + "\"/>\n";
    svg += Text(x + 20, y, components[c], "start", 11);
  }
  return svg + "</svg>\n";
}

}  // namespace wake::bench
