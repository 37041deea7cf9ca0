#include "base/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace wake {
namespace {

[[noreturn]] void Fail(std::string_view metric, std::string_view why) {
  std::fprintf(stderr, "wake metrics: %.*s: %.*s\n", static_cast<int>(metric.size()), metric.data(),
               static_cast<int>(why.size()), why.data());
  std::abort();
}

bool IsNameChar(char c, bool first, bool colon) {
  const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
  return letter || (!first && c >= '0' && c <= '9');
}

bool ValidName(std::string_view name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, colon)) return false;
  }
  return true;
}

constexpr std::string_view kHistogramSuffixes[] = {"_bucket", "_sum", "_count"};

// The shortest form that reads back exactly, as Go formats it (%g: 0.0005, 5e-05); +Inf/-Inf/NaN.
void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general);
    out.append(buf, ec == std::errc() ? end : buf);
  }
}

void AppendEscaped(std::string& out, std::string_view s, bool quotes) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quotes && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// `{a="x",b="y"}` (with `le` last when given), or nothing for no labels.
void AppendLabels(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values,
                  const std::string* le = nullptr) {
  if (names.empty() && le == nullptr) return;
  out += '{';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    AppendEscaped(out, values[i], /*quotes=*/true);
    out += '"';
  }
  if (le != nullptr) {
    if (!names.empty()) out += ',';
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
}

void AppendSample(std::string& out, std::string_view name, std::string_view suffix,
                  const std::vector<std::string>& names, const std::vector<std::string>& values, std::string_view value,
                  const std::string* le = nullptr) {
  out += name;
  out += suffix;
  AppendLabels(out, names, values, le);
  out += ' ';
  out += value;
  out += '\n';
}

}  // namespace

// --- Histogram ----------------------------------------------------------------------------------

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  // The first bound >= value: its bucket (le) is the narrowest that counts it; past the end, +Inf.
  const size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120};
}

std::vector<double> FastLatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
}

// --- MetricFamily -------------------------------------------------------------------------------

template <typename Metric>
MetricFamily<Metric>::MetricFamily(std::string name, std::vector<std::string> label_names, size_t max_series,
                                   std::vector<double> upper_bounds)
    : name_(std::move(name)),
      label_names_(std::move(label_names)),
      max_series_(std::max<size_t>(1, max_series)),
      upper_bounds_(std::move(upper_bounds)) {}

template <typename Metric>
Metric& MetricFamily<Metric>::WithLabels(std::initializer_list<std::string_view> values) {
  return Find(std::vector<std::string>(values.begin(), values.end()));
}

template <typename Metric>
Metric& MetricFamily<Metric>::WithLabels(const std::vector<std::string>& values) {
  return Find(values);
}

template <typename Metric>
Metric& MetricFamily<Metric>::Find(std::vector<std::string> values) {
  if (values.size() != label_names_.size()) {
    Fail(name_, "WithLabels got a different number of values than the family has label names");
  }
  MutexLock lock(&mu_);
  auto it = series_.find(values);
  if (it != series_.end()) return *it->second;
  // The overflow series does not count against the bound: at most max_series_ + 1 in all.
  const std::vector<std::string> overflow(label_names_.size(), "other");
  const size_t real = series_.size() - (series_.contains(overflow) ? 1 : 0);
  if (real >= max_series_ && !label_names_.empty()) values = overflow;
  std::unique_ptr<Metric>& slot = series_[std::move(values)];
  if (slot == nullptr) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      slot = std::make_unique<Histogram>(upper_bounds_);
    } else {
      slot = std::make_unique<Metric>();
    }
  }
  return *slot;
}

template <typename Metric>
std::vector<std::pair<std::vector<std::string>, const Metric*>> MetricFamily<Metric>::Series() const {
  MutexLock lock(&mu_);
  std::vector<std::pair<std::vector<std::string>, const Metric*>> out;
  out.reserve(series_.size());
  for (const auto& [values, metric] : series_) out.emplace_back(values, metric.get());
  return out;
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

// --- MetricsRegistry ----------------------------------------------------------------------------

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Entry& MetricsRegistry::Register(std::string_view name, std::string_view help, Kind kind,
                                                  const std::vector<std::string>& labels,
                                                  const std::vector<double>* upper_bounds, size_t max_series) {
  if (!ValidName(name, /*colon=*/true)) Fail(name, "not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string& label = labels[i];
    if (!ValidName(label, /*colon=*/false) || label.starts_with("__")) {
      Fail(name, "a label name is not valid ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)");
    }
    if (kind == Kind::kHistogram && label == "le") Fail(name, "a histogram cannot have a label named le");
    if (std::find(labels.begin(), labels.begin() + i, label) != labels.begin() + i) Fail(name, "a label name repeats");
  }
  if (upper_bounds != nullptr) {
    for (size_t i = 0; i < upper_bounds->size(); ++i) {
      const double b = (*upper_bounds)[i];
      if (!std::isfinite(b) || (i > 0 && b <= (*upper_bounds)[i - 1])) {
        Fail(name, "bucket bounds must be finite and strictly increasing (+Inf is implicit)");
      }
    }
  }

  MutexLock lock(&mu_);
  if (auto it = entries_.find(name); it != entries_.end()) {
    Entry& entry = it->second;
    bool same = entry.kind == kind;
    if (same) {
      std::visit(
          [&](const auto& family) {
            same = family->label_names() == labels;
            if constexpr (std::is_same_v<std::decay_t<decltype(*family)>, HistogramFamily>) {
              same = same && upper_bounds != nullptr && family->upper_bounds_ == *upper_bounds;
            }
          },
          entry.family);
    }
    if (!same) Fail(name, "registered again with another type, other label names or other buckets");
    return entry;
  }
  // A histogram's samples are <name>_bucket, _sum and _count: no other metric may take those names.
  for (std::string_view suffix : kHistogramSuffixes) {
    if (kind == Kind::kHistogram && entries_.contains(std::string(name) + std::string(suffix))) {
      Fail(name, "another metric is named like one of this histogram's series");
    }
    if (name.ends_with(suffix)) {
      auto stem = entries_.find(name.substr(0, name.size() - suffix.size()));
      if (stem != entries_.end() && stem->second.kind == Kind::kHistogram) {
        Fail(name, "the name is one of an existing histogram's series");
      }
    }
  }
  Entry entry{kind, std::string(help), {}};
  const std::string key(name);
  std::vector<double> bounds = upper_bounds != nullptr ? *upper_bounds : std::vector<double>();
  switch (kind) {
    case Kind::kCounter:
      entry.family.emplace<0>(new CounterFamily(key, labels, max_series, {}));
      break;
    case Kind::kGauge:
      entry.family.emplace<1>(new GaugeFamily(key, labels, max_series, {}));
      break;
    case Kind::kHistogram:
      entry.family.emplace<2>(new HistogramFamily(key, labels, max_series, std::move(bounds)));
      break;
  }
  return entries_.emplace(key, std::move(entry)).first->second;
}

Counter& MetricsRegistry::AddCounter(std::string_view name, std::string_view help) {
  return AddCounterFamily(name, help, {}).WithLabels({});
}

Gauge& MetricsRegistry::AddGauge(std::string_view name, std::string_view help) {
  return AddGaugeFamily(name, help, {}).WithLabels({});
}

Histogram& MetricsRegistry::AddHistogram(std::string_view name, std::string_view help,
                                         std::vector<double> upper_bounds) {
  return AddHistogramFamily(name, help, {}, std::move(upper_bounds)).WithLabels({});
}

CounterFamily& MetricsRegistry::AddCounterFamily(std::string_view name, std::string_view help,
                                                 std::vector<std::string> label_names, size_t max_series) {
  return *std::get<0>(Register(name, help, Kind::kCounter, label_names, nullptr, max_series).family);
}

GaugeFamily& MetricsRegistry::AddGaugeFamily(std::string_view name, std::string_view help,
                                             std::vector<std::string> label_names, size_t max_series) {
  return *std::get<1>(Register(name, help, Kind::kGauge, label_names, nullptr, max_series).family);
}

HistogramFamily& MetricsRegistry::AddHistogramFamily(std::string_view name, std::string_view help,
                                                     std::vector<std::string> label_names,
                                                     std::vector<double> upper_bounds, size_t max_series) {
  return *std::get<2>(Register(name, help, Kind::kHistogram, label_names, &upper_bounds, max_series).family);
}

std::string MetricsRegistry::RenderPrometheus() const {
  std::string out;
  MutexLock lock(&mu_);
  for (const auto& [name, entry] : entries_) {
    out += "# HELP ";
    out += name;
    out += ' ';
    AppendEscaped(out, entry.help, /*quotes=*/false);
    out += "\n# TYPE ";
    out += name;
    out += entry.kind == Kind::kCounter ? " counter\n" : entry.kind == Kind::kGauge ? " gauge\n" : " histogram\n";
    switch (entry.kind) {
      case Kind::kCounter: {
        const CounterFamily& family = *std::get<0>(entry.family);
        for (const auto& [values, counter] : family.Series()) {
          AppendSample(out, name, "", family.label_names(), values, std::to_string(counter->value()));
        }
        break;
      }
      case Kind::kGauge: {
        const GaugeFamily& family = *std::get<1>(entry.family);
        for (const auto& [values, gauge] : family.Series()) {
          AppendSample(out, name, "", family.label_names(), values, std::to_string(gauge->value()));
        }
        break;
      }
      case Kind::kHistogram: {
        const HistogramFamily& family = *std::get<2>(entry.family);
        for (const auto& [values, histogram] : family.Series()) {
          const Histogram::Snapshot s = histogram->snapshot();
          std::string le;
          for (size_t i = 0; i <= s.upper_bounds.size(); ++i) {
            le.clear();
            if (i < s.upper_bounds.size()) {
              AppendDouble(le, s.upper_bounds[i]);
            } else {
              le = "+Inf";
            }
            AppendSample(out, name, "_bucket", family.label_names(), values, std::to_string(s.cumulative[i]), &le);
          }
          std::string sum;
          AppendDouble(sum, s.sum);
          AppendSample(out, name, "_sum", family.label_names(), values, sum);
          AppendSample(out, name, "_count", family.label_names(), values, std::to_string(s.count));
        }
        break;
      }
    }
  }
  return out;
}

// --- shared families ----------------------------------------------------------------------------

CounterFamily& ErrorCounters(MetricsRegistry& registry) {
  return registry.AddCounterFamily("wake_errors_total",
                                   "Errors by type: session.error types, tool_error, hand_lost, "
                                   "hand_provision_error, wake_error.",
                                   {"type"});
}

HistogramFamily& AppendLatencies(MetricsRegistry& registry) {
  return registry.AddHistogramFamily("wake_log_append_seconds",
                                     "SessionLog::Append latency (durable when the log syncs), by caller.", {"caller"},
                                     FastLatencyBuckets());
}

}  // namespace wake
