// The registry renders the Prometheus text exposition format.
#include "common/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>

namespace ferry::metrics {
namespace {

TEST(MetricsTest, RendersFamiliesSortedWithHelpTypeAndLabels) {
  Registry r;
  r.counter("ferry_b_total", "Bs.", {{"table", "public.t"}}).Increment(3);
  r.counter("ferry_b_total", "ignored: the first help stays", {{"table", "public.a"}}).Increment();
  r.gauge("ferry_a_bytes", "Bytes.").Set(1536);
  EXPECT_EQ(r.Render(),
            "# HELP ferry_a_bytes Bytes.\n"
            "# TYPE ferry_a_bytes gauge\n"
            "ferry_a_bytes 1536\n"
            "# HELP ferry_b_total Bs.\n"
            "# TYPE ferry_b_total counter\n"
            "ferry_b_total{table=\"public.a\"} 1\n"
            "ferry_b_total{table=\"public.t\"} 3\n");
}

TEST(MetricsTest, SameNameAndLabelsIsTheSameSeries) {
  Registry r;
  Counter& a = r.counter("x_total", "X.", {{"k", "v"}});
  Counter& b = r.counter("x_total", "X.", {{"k", "v"}});
  EXPECT_EQ(&a, &b);
  a.Increment(2);
  EXPECT_EQ(b.value(), 2);
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry r;
  r.counter("x_total", "Help with \\ and\nnewline.", {{"table", "we\"ird\\na\nme"}}).Increment();
  EXPECT_EQ(r.Render(),
            "# HELP x_total Help with \\\\ and\\nnewline.\n"
            "# TYPE x_total counter\n"
            "x_total{table=\"we\\\"ird\\\\na\\nme\"} 1\n");
}

TEST(MetricsTest, FormatsSampleValues) {
  EXPECT_EQ(FormatSampleValue(0), "0");
  EXPECT_EQ(FormatSampleValue(-3), "-3");
  EXPECT_EQ(FormatSampleValue(0.25), "0.25");
  EXPECT_EQ(FormatSampleValue(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(FormatSampleValue(1e300), "1e+300");
  EXPECT_EQ(FormatSampleValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatSampleValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatSampleValue(std::nan("")), "NaN");
}

TEST(MetricsTest, ScrapeTimeGaugeIsComputedAtEachRender) {
  Registry r;
  double v = 1.5;
  r.gauge_fn("x_seconds", "X.", {}, [&] { return v; });
  EXPECT_NE(r.Render().find("x_seconds 1.5\n"), std::string::npos);
  v = 7;
  EXPECT_NE(r.Render().find("x_seconds 7\n"), std::string::npos);
}

TEST(MetricsTest, DescribedFamilyRendersWithoutSeries) {
  Registry r;
  r.DescribeCounter("ferry_apply_conflicts_total", "Conflicts.");
  EXPECT_EQ(r.Render(),
            "# HELP ferry_apply_conflicts_total Conflicts.\n"
            "# TYPE ferry_apply_conflicts_total counter\n");
}

TEST(MetricsTest, CountersAreExactUnderConcurrentIncrements) {
  Registry r;
  Counter& c = r.counter("x_total", "X.");
  Gauge& g = r.gauge("x", "X.");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.Increment();
        g.Add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000);
  EXPECT_EQ(g.value(), 40000);
}

}  // namespace
}  // namespace ferry::metrics
