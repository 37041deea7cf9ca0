// base/metrics: the exact exposition text for known observations, escaping, the series bound,
// registration rules (and the aborts for programming errors), and exact totals under concurrency.

#include "base/metrics.h"

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace wake {
namespace {

TEST(MetricsTest, RendersKnownObservationsExactly) {
  MetricsRegistry registry;
  Counter& requests = registry.AddCounter("test_requests_total", "Requests served.");
  Gauge& running = registry.AddGauge("test_running", "Sessions running now.");
  CounterFamily& errors = registry.AddCounterFamily("test_errors_total", "Errors by type.", {"type", "where"});
  Histogram& latency = registry.AddHistogram("test_latency_seconds", "How long it took.", {0.5, 1, 2});
  HistogramFamily& by_route =
      registry.AddHistogramFamily("test_route_seconds", "Per route.", {"route"}, {0.001, 0.25});

  requests.Increment();
  requests.Increment(4);
  running.Set(7);
  running.Add(-2);
  errors.WithLabels({"tool_error", "hand"}).Increment(3);
  errors.WithLabels({"hand_lost", "pool"}).Increment();
  for (double v : {0.25, 0.5, 1.5, 3.0}) latency.Observe(v);
  by_route.WithLabels({"/v1/sessions/{id}"}).ObserveDuration(absl::Milliseconds(250));
  by_route.WithLabels({"/metrics"}).Observe(0.0005);

  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP test_errors_total Errors by type.\n"
            "# TYPE test_errors_total counter\n"
            "test_errors_total{type=\"hand_lost\",where=\"pool\"} 1\n"
            "test_errors_total{type=\"tool_error\",where=\"hand\"} 3\n"
            "# HELP test_latency_seconds How long it took.\n"
            "# TYPE test_latency_seconds histogram\n"
            "test_latency_seconds_bucket{le=\"0.5\"} 2\n"
            "test_latency_seconds_bucket{le=\"1\"} 2\n"
            "test_latency_seconds_bucket{le=\"2\"} 3\n"
            "test_latency_seconds_bucket{le=\"+Inf\"} 4\n"
            "test_latency_seconds_sum 5.25\n"
            "test_latency_seconds_count 4\n"
            "# HELP test_requests_total Requests served.\n"
            "# TYPE test_requests_total counter\n"
            "test_requests_total 5\n"
            "# HELP test_route_seconds Per route.\n"
            "# TYPE test_route_seconds histogram\n"
            "test_route_seconds_bucket{route=\"/metrics\",le=\"0.001\"} 1\n"
            "test_route_seconds_bucket{route=\"/metrics\",le=\"0.25\"} 1\n"
            "test_route_seconds_bucket{route=\"/metrics\",le=\"+Inf\"} 1\n"
            "test_route_seconds_sum{route=\"/metrics\"} 0.0005\n"
            "test_route_seconds_count{route=\"/metrics\"} 1\n"
            "test_route_seconds_bucket{route=\"/v1/sessions/{id}\",le=\"0.001\"} 0\n"
            "test_route_seconds_bucket{route=\"/v1/sessions/{id}\",le=\"0.25\"} 1\n"
            "test_route_seconds_bucket{route=\"/v1/sessions/{id}\",le=\"+Inf\"} 1\n"
            "test_route_seconds_sum{route=\"/v1/sessions/{id}\"} 0.25\n"
            "test_route_seconds_count{route=\"/v1/sessions/{id}\"} 1\n"
            "# HELP test_running Sessions running now.\n"
            "# TYPE test_running gauge\n"
            "test_running 5\n");
}

TEST(MetricsTest, AFamilyWithoutSeriesHasOnlyItsHelpAndType) {
  MetricsRegistry registry;
  registry.AddHistogramFamily("test_empty_seconds", "Nothing yet.", {"backend"}, {1});
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP test_empty_seconds Nothing yet.\n"
            "# TYPE test_empty_seconds histogram\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  CounterFamily& family = registry.AddCounterFamily("test_total", "A \\ backslash\nand a \"quote\".", {"v"});
  family.WithLabels({"a\"b\\c\nd"}).Increment();
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP test_total A \\\\ backslash\\nand a \"quote\".\n"
            "# TYPE test_total counter\n"
            "test_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsTest, BucketBoundsAreInclusiveAndNanIsIgnored) {
  Histogram h({1, 2});
  h.Observe(1);  // le="1" counts it
  h.Observe(std::nextafter(1.0, 2.0));
  h.Observe(std::numeric_limits<double>::quiet_NaN());
  h.Observe(std::numeric_limits<double>::infinity());
  h.ObserveDuration(-absl::Seconds(3));  // a clock stepped back: zero
  const Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(s.count, 4u);
  EXPECT_TRUE(std::isinf(s.sum));
}

TEST(MetricsTest, SeriesPastTheBoundShareTheOverflowSeries) {
  MetricsRegistry registry;
  CounterFamily& family = registry.AddCounterFamily("test_total", "Bounded.", {"id", "kind"}, /*max_series=*/2);
  family.WithLabels({"a", "x"}).Increment();
  family.WithLabels({"b", "x"}).Increment();
  Counter& c = family.WithLabels({"c", "x"});
  Counter& d = family.WithLabels({"d", "y"});
  EXPECT_EQ(&c, &d);
  c.Increment();
  d.Increment();
  EXPECT_EQ(&family.WithLabels({"a", "x"}), &family.WithLabels(std::vector<std::string>{"a", "x"}));
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP test_total Bounded.\n"
            "# TYPE test_total counter\n"
            "test_total{id=\"a\",kind=\"x\"} 1\n"
            "test_total{id=\"b\",kind=\"x\"} 1\n"
            "test_total{id=\"other\",kind=\"other\"} 2\n");
}

TEST(MetricsTest, RegisteringTheSameShapeAgainReturnsTheSameMetric) {
  MetricsRegistry registry;
  Histogram& a = registry.AddHistogram("test_seconds", "x", {1, 2});
  Histogram& b = registry.AddHistogram("test_seconds", "x", {1, 2});
  EXPECT_EQ(&a, &b);
  CounterFamily& f = registry.AddCounterFamily("test_total", "x", {"type"});
  EXPECT_EQ(&f, &registry.AddCounterFamily("test_total", "x", {"type"}));
}

using MetricsDeathTest = ::testing::Test;

TEST(MetricsDeathTest, ProgrammingErrorsAbortNamingTheMetric) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(MetricsRegistry().AddCounter("9lives", "x"), "9lives: not a valid metric name");
  EXPECT_DEATH(MetricsRegistry().AddCounter("has space", "x"), "not a valid metric name");
  EXPECT_DEATH(MetricsRegistry().AddCounterFamily("test_total", "x", {"__reserved"}), "label name is not valid");
  EXPECT_DEATH(MetricsRegistry().AddCounterFamily("test_total", "x", {"a", "a"}), "label name repeats");
  EXPECT_DEATH(MetricsRegistry().AddHistogramFamily("test_seconds", "x", {"le"}, {1}), "label named le");
  EXPECT_DEATH(MetricsRegistry().AddHistogram("test_seconds", "x", {1, 1}), "strictly increasing");
  EXPECT_DEATH(MetricsRegistry().AddHistogram("test_seconds", "x", {1, std::numeric_limits<double>::infinity()}),
               "finite");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddCounter("test_total", "x");
        r.AddGauge("test_total", "x");
      },
      "test_total: registered again");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddHistogram("test_seconds", "x", {1});
        r.AddHistogram("test_seconds", "x", {2});
      },
      "registered again");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddHistogram("test_seconds", "x", {1});
        r.AddCounter("test_seconds_count", "x");
      },
      "existing histogram's series");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddGauge("test_seconds_sum", "x");
        r.AddHistogram("test_seconds", "x", {1});
      },
      "named like one of this histogram's series");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddCounterFamily("test_total", "x", {"a", "b"}).WithLabels({"only one"});
      },
      "different number of values");
}

TEST(MetricsTest, ConcurrentObservationsAddUpExactly) {
  MetricsRegistry registry;
  HistogramFamily& family = registry.AddHistogramFamily("test_seconds", "x", {"worker"}, {1});
  Counter& counter = registry.AddCounter("test_total", "x");
  Gauge& gauge = registry.AddGauge("test_level", "x");
  Histogram& shared = registry.AddHistogram("test_shared_seconds", "x", {1});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Values exact in binary, so the sum is exact whatever the order of the additions.
        shared.Observe(i % 2 == 0 ? 0.5 : 2.0);
        family.WithLabels({absl::StrCat("w", t % 4)}).Observe(0.25);
        counter.Increment();
        gauge.Add(1);
        gauge.Add(-1);
        if (i % 1000 == 0) (void)registry.RenderPrometheus();  // scrapes race the observations
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const Histogram::Snapshot s = shared.snapshot();
  EXPECT_EQ(s.count, uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(s.cumulative[0], uint64_t{kThreads} * kPerThread / 2);
  EXPECT_EQ(s.sum, kThreads * (kPerThread / 2) * 2.5);
  EXPECT_EQ(counter.value(), uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(gauge.value(), 0);
  for (int w = 0; w < 4; ++w) {
    const Histogram::Snapshot ws = family.WithLabels({absl::StrCat("w", w)}).snapshot();
    EXPECT_EQ(ws.count, uint64_t{2} * kPerThread);
    EXPECT_EQ(ws.sum, 2 * kPerThread * 0.25);
  }
}

}  // namespace
}  // namespace wake
