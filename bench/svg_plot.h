#pragma once
// A small SVG writer for the benchmarks' plots: empirical CDFs (one line per series) and stacked
// horizontal bars (one bar per row, one segment per component). No dependencies; the output is a
// self-contained SVG 1.1 document with its own legend.

#include <string>
#include <utility>
#include <vector>

namespace wake::bench {

struct CdfSeries {
  std::string name;
  std::vector<double> values;  // any order; sorted by the plot
};

// The CDF of each series against x in `x_label` units; a log-scale x axis when `log_x` (values <= 0
// are left out then).
std::string CdfSvg(const std::string& title, const std::string& x_label, const std::vector<CdfSeries>& series,
                   bool log_x);

struct StackedBar {
  std::string name;
  std::vector<double> segments;  // one per component, in the order of `components`; negatives count as 0
};

// One horizontal bar per row, its segments stacked left to right, with the total at its end.
std::string StackedBarsSvg(const std::string& title, const std::string& x_label,
                           const std::vector<std::string>& components, const std::vector<StackedBar>& bars);

}  // namespace wake::bench
