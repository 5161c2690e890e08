// Logging setup shared by every subcommand: spdlog to stderr, one format.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "common/status.h"
#include "common/status_block_sink.h"

namespace ferry {

// How a long task's progress is shown (--progress): a status block rewritten
// in place under the log (common/status_block_sink.h), or plain log lines
// every few seconds. kAuto: the block when stderr is a terminal.
enum class ProgressDisplay { kAuto, kTerminal, kLog };

// "auto", "tty" or "log".
Result<ProgressDisplay> ParseProgressDisplay(const std::string& text);

// level: trace|debug|info|warn|error. Unknown levels fall back to info.
void InitLogging(const std::string& level, const std::string& process_name,
                 ProgressDisplay progress = ProgressDisplay::kLog);

// The status block under the log; null when progress goes to log lines.
StatusBlockSink* ProgressBlock();

}  // namespace ferry
