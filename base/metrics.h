#pragma once
// Metrics: counters, gauges and histograms that wake's parts update as they work, and a registry that
// renders them in the Prometheus text exposition format (version 0.0.4) for GET /metrics.
//
// Model: a registry holds metric families by name. A family has a fixed list of label names and one
// series per distinct list of label values (an unlabelled metric is a family with no label names and
// one series). Callers register a family once, keep the reference it returns, and update its series:
//
//   MetricsRegistry registry;
//   HistogramFamily& latency = registry.AddHistogramFamily(
//       "wake_hand_execute_seconds", "Tool call time on a hand.", {"backend"}, LatencyBuckets());
//   Histogram& local = latency.WithLabels({"local"});   // look up once (takes the family's lock)
//   local.ObserveDuration(took);                        // lock-free: two relaxed atomic adds
//
// Cost: an observation (Counter::Increment, Gauge::Set/Add, Histogram::Observe) takes no lock: it is
// a few relaxed atomic operations. WithLabels takes the family's mutex (a map lookup); hot paths look
// a series up once and keep it. Registering and rendering take the registry's mutex.
//
// Bounded cardinality: a family holds at most `max_series` label-value lists. Past that, WithLabels
// returns one shared overflow series whose every label value is "other", so a bug that labels with
// ids cannot grow memory or the scrape without bound.
//
// Consistency of a scrape: each number is read atomically, but a scrape that races observations may
// see a histogram's _sum without an observation its buckets already count (or the reverse). _count and
// the +Inf bucket are always equal: both are the sum of the bucket counts read.
//
// Programming errors abort (like a failed CHECK), with a message naming the metric: an invalid metric
// or label name, the label name "le" on a histogram, bucket bounds that are not finite and strictly
// increasing, WithLabels with the wrong number of values, or registering a name again with another
// type, other label names or other buckets. Registering the same name again with the same shape returns
// the existing family (so independent parts can register what they share). Names come from wake's
// code, never from a request.
//
// Ownership: the registry owns every family and series; references stay valid as long as it lives.
// Thread-safe: every member of every class here may be called from any thread.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "base/sync.h"

namespace wake {

// A monotonically increasing count (requests served, errors seen).
class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (sessions running now). Integer-valued: wake's gauges count things.
class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Observations counted into fixed buckets (Prometheus "le" semantics: a bucket counts the
// observations <= its upper bound; an implicit +Inf bucket takes the rest), plus their sum.
class Histogram {
 public:
  // REQUIRES: `upper_bounds` finite and strictly increasing (may be empty: only +Inf).
  explicit Histogram(std::vector<double> upper_bounds);

  // NaN is ignored.
  void Observe(double value);
  // In seconds (Prometheus' base unit); a negative duration (a clock stepped back) counts as zero.
  void ObserveDuration(absl::Duration d) { Observe(absl::ToDoubleSeconds(std::max(d, absl::ZeroDuration()))); }

  struct Snapshot {
    std::vector<double> upper_bounds;  // finite bounds; the +Inf bucket is implicit
    std::vector<uint64_t> cumulative;  // per finite bound, then +Inf: observations <= bound
    uint64_t count = 0;                // == cumulative.back()
    double sum = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& upper_bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket (not cumulative), +Inf last
  std::atomic<double> sum_{0};
};

// Bucket bounds in seconds for wake's latencies: 1 ms to 2 min, roughly x2.5 apart.
std::vector<double> LatencyBuckets();
// Finer ones for fast operations (appends, wakes): 50 us to 10 s.
std::vector<double> FastLatencyBuckets();

// One metric's series, by label values. See the file comment for the bound and the overflow series.
template <typename Metric>
class MetricFamily {
 public:
  // The series for these label values (one per label name, in order), made on first use.
  Metric& WithLabels(std::initializer_list<std::string_view> values);
  Metric& WithLabels(const std::vector<std::string>& values);

  const std::vector<std::string>& label_names() const { return label_names_; }
  // Every series, ordered by label values (for rendering).
  std::vector<std::pair<std::vector<std::string>, const Metric*>> Series() const;

  MetricFamily(const MetricFamily&) = delete;
  MetricFamily& operator=(const MetricFamily&) = delete;

 private:
  friend class MetricsRegistry;
  // `upper_bounds`: for histograms, every series'; ignored otherwise.
  MetricFamily(std::string name, std::vector<std::string> label_names, size_t max_series,
               std::vector<double> upper_bounds);

  Metric& Find(std::vector<std::string> values);

  const std::string name_;
  const std::vector<std::string> label_names_;
  const size_t max_series_;
  const std::vector<double> upper_bounds_;  // histograms only
  mutable Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> series_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;
extern template class MetricFamily<Counter>;
extern template class MetricFamily<Gauge>;
extern template class MetricFamily<Histogram>;

class MetricsRegistry {
 public:
  static constexpr size_t kDefaultMaxSeries = 128;

  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__".
  // Help and label values: any UTF-8 text (escaped when rendered). A repeated registration keeps the
  // first help.
  Counter& AddCounter(std::string_view name, std::string_view help);
  Gauge& AddGauge(std::string_view name, std::string_view help);
  Histogram& AddHistogram(std::string_view name, std::string_view help, std::vector<double> upper_bounds);
  CounterFamily& AddCounterFamily(std::string_view name, std::string_view help, std::vector<std::string> label_names,
                                  size_t max_series = kDefaultMaxSeries);
  GaugeFamily& AddGaugeFamily(std::string_view name, std::string_view help, std::vector<std::string> label_names,
                              size_t max_series = kDefaultMaxSeries);
  HistogramFamily& AddHistogramFamily(std::string_view name, std::string_view help,
                                      std::vector<std::string> label_names, std::vector<double> upper_bounds,
                                      size_t max_series = kDefaultMaxSeries);

  // Every family in the text exposition format 0.0.4, ordered by name, series by label values:
  // "# HELP", "# TYPE", then the samples (histograms: _bucket{...,le="..."} cumulative up to
  // le="+Inf", then _sum and _count). A family with no series yet has its HELP and TYPE lines only.
  std::string RenderPrometheus() const;

  // The Content-Type of RenderPrometheus' text.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Entry {
    Kind kind;
    std::string help;
    std::variant<std::unique_ptr<CounterFamily>, std::unique_ptr<GaugeFamily>, std::unique_ptr<HistogramFamily>>
        family;
  };
  // The entry for `name`, made when new; aborts on an invalid or conflicting registration.
  Entry& Register(std::string_view name, std::string_view help, Kind kind, const std::vector<std::string>& labels,
                  const std::vector<double>* upper_bounds, size_t max_series);

  mutable Mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_ ABSL_GUARDED_BY(mu_);
};

// --- families several of wake's modules update (defined once, so their shapes agree) -------------

// wake_errors_total{type}: errors by type. Types: a session.error's error type
// ("model_overloaded_error", "model_rate_limited_error", "model_request_failed_error",
// "unknown_error"); "tool_error" (a tool call's result is an error); "hand_lost" (a hand died under
// a call); "hand_provision_error"; "wake_error" (a wake failed other than by losing its lease).
CounterFamily& ErrorCounters(MetricsRegistry& registry);
// wake_log_append_seconds{caller}: SessionLog::Append as wake calls it: "harness" (the turn's own
// events) and "client" (events a client sent through the engine).
HistogramFamily& AppendLatencies(MetricsRegistry& registry);

}  // namespace wake
