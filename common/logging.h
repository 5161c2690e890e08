// Logging setup shared by every subcommand: spdlog to stderr, one format.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace ferry {

// level: trace|debug|info|warn|error. Unknown levels fall back to info.
void InitLogging(const std::string& level, const std::string& process_name);

}  // namespace ferry
