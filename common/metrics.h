// Metrics: a process-wide registry of counters and gauges, rendered in the
// Prometheus text exposition format (version 0.0.4) and served by
// MetricsServer (common/metrics_server.h).
//
// A metric is a family name with a help text and a type, and one series per
// label set. Looking a series up takes the registry's lock; updating one is a
// lock-free atomic, so a hot loop looks its series up once and keeps the
// reference (references stay valid for the registry's life).
//
//   Counter& sent = Registry::Default().counter("ferry_x_total", "Xs sent.", {{"table", "public.t"}});
//   sent.Increment();
//
// The names ferry exports, with their help texts, are in common/ferry_metrics.h.
//
// Thread-safety: everything here is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ferry::metrics {

// Label name -> value. Names must match [a-zA-Z_][a-zA-Z0-9_]*; values are any text
// (escaped when rendered).
using Labels = std::vector<std::pair<std::string, std::string>>;

// Only ever goes up (Prometheus computes rates from it).
class Counter {
 public:
  void Increment(int64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  void Add(double d);
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Registry {
 public:
  // The registry every ferry process renders on --metrics-addr.
  static Registry& Default();

  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The series of family `name` with `labels`, created (at 0) on first use.
  // REQUIRES: `name` is a valid metric name and always used as the same type;
  // the first help text given for a family is kept.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  // A gauge whose value `fn` computes at each scrape (on the server's thread),
  // e.g. seconds since an event. Replaces an earlier function for the same series.
  void gauge_fn(const std::string& name, const std::string& help, const Labels& labels,
                std::function<double()> fn);
  // Announces a family (HELP and TYPE lines) before any series exists, so a
  // scraper sees the name even while nothing was counted yet.
  void DescribeCounter(const std::string& name, const std::string& help);

  // Every family, sorted by name, series sorted by labels.
  std::string Render() const;

 private:
  struct Series {
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::function<double()> fn;
  };
  struct Family {
    std::string help;
    bool is_counter = false;
    std::map<Labels, Series> series;
  };
  Family& FamilyFor(const std::string& name, const std::string& help, bool is_counter);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

// "a\"b\\c\nd" escaping of a label value for the text format.
std::string EscapeLabelValue(const std::string& value);
// Shortest exact text of `v` for a sample line ("+Inf", "NaN", "12", "0.25").
std::string FormatSampleValue(double v);

}  // namespace ferry::metrics
