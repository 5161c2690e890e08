#include "common/duration.h"

#include <cctype>
#include <cstdint>
#include <cstdio>

namespace ferry {

namespace {

// Milliseconds per unit; 0 for an unknown unit.
int64_t UnitMs(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s" || unit.empty()) return 1000;
  if (unit == "m") return 60 * 1000;
  if (unit == "h") return 3600 * 1000;
  return 0;
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("duration '" + std::string(text) + "': " + why +
                                   " (use e.g. 500ms, 30s, 10m, 1h30m)");
  };
  if (text.empty()) return bad("empty");
  constexpr int64_t kMax = int64_t{1} << 52;
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return bad("expected a number");
    int64_t n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      n = n * 10 + (text[i++] - '0');
      if (n > kMax) return bad("too long");
    }
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit.empty() && i < text.size()) return bad("expected a unit");
    if (unit.empty() && total > 0) return bad("a number without unit after another part");
    int64_t per = UnitMs(unit);
    if (per == 0) return bad("unknown unit '" + std::string(unit) + "'");
    total += n * per;
    if (total > kMax) return bad("too long");
  }
  return std::chrono::milliseconds(total);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  char buf[64];
  if (ms < 60000) {
    std::snprintf(buf, sizeof buf, "%.3gs", ms / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%lldm%llds", static_cast<long long>(ms / 60000),
                  static_cast<long long>(ms % 60000 / 1000));
  }
  return buf;
}

}  // namespace ferry
