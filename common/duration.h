// Durations as operators type them: "500ms", "30s", "10m", "1h", "1h30m".
// A bare number is seconds.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ferry {

// InvalidArgument naming the text for anything else (negative, no digits,
// unknown unit, overflow).
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);
// 2500ms -> "2.5s", 600000ms -> "10m0s"; for messages.
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace ferry
