#include "common/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace ferry::metrics {

void Gauge::Add(double d) { v_.fetch_add(d, std::memory_order_relaxed); }

Registry& Registry::Default() {
  static Registry* registry = new Registry();  // never destroyed: used until exit by any thread
  return *registry;
}

Registry::Family& Registry::FamilyFor(const std::string& name, const std::string& help,
                                      bool is_counter) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.help = help;
    it->second.is_counter = is_counter;
  }
  return it->second;
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Series& s = FamilyFor(name, help, true).series[labels];
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Series& s = FamilyFor(name, help, false).series[labels];
  if (!s.gauge) s.gauge = std::make_unique<Gauge>();
  return *s.gauge;
}

void Registry::gauge_fn(const std::string& name, const std::string& help, const Labels& labels,
                        std::function<double()> fn) {
  std::lock_guard lock(mu_);
  FamilyFor(name, help, false).series[labels].fn = std::move(fn);
}

void Registry::DescribeCounter(const std::string& name, const std::string& help) {
  std::lock_guard lock(mu_);
  FamilyFor(name, help, true);
}

namespace {

// The text format escapes backslash and newline, and in label values the quote.
std::string Escape(const std::string& text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string EscapeLabelValue(const std::string& value) { return Escape(value, true); }

namespace {

std::string EscapeHelp(const std::string& help) { return Escape(help, false); }

std::string LabelText(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ',';
    out += labels[i].first + "=\"" + EscapeLabelValue(labels[i].second) + "\"";
  }
  return out + "}";
}

}  // namespace

std::string FormatSampleValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  // The shortest form that reads back as the same double.
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string Registry::Render() const {
  // Each line is text, then a value; a scrape-time function is called after
  // the lock is released (it may take locks of its own).
  struct Line {
    std::string text;
    std::function<double()> fn;
  };
  std::vector<Line> lines;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, family] : families_) {
      lines.push_back({"# HELP " + name + " " + EscapeHelp(family.help) + "\n", nullptr});
      lines.push_back({"# TYPE " + name + (family.is_counter ? " counter\n" : " gauge\n"), nullptr});
      for (const auto& [labels, s] : family.series) {
        std::string sample = name + LabelText(labels) + " ";
        if (s.fn) {
          lines.push_back({std::move(sample), s.fn});
        } else if (family.is_counter) {
          lines.push_back({sample + std::to_string(s.counter ? s.counter->value() : 0) + "\n", nullptr});
        } else {
          lines.push_back({sample + FormatSampleValue(s.gauge ? s.gauge->value() : 0) + "\n", nullptr});
        }
      }
    }
  }
  std::string out;
  for (const Line& line : lines) {
    out += line.text;
    if (line.fn) out += FormatSampleValue(line.fn()) + "\n";
  }
  return out;
}

}  // namespace ferry::metrics
