#include "common/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <unistd.h>

namespace ferry {

namespace {

constexpr const char* kPattern = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v";

std::shared_ptr<StatusBlockSink>& Block() {
  static std::shared_ptr<StatusBlockSink> block;
  return block;
}

}  // namespace

Result<ProgressDisplay> ParseProgressDisplay(const std::string& text) {
  if (text == "auto") return ProgressDisplay::kAuto;
  if (text == "tty") return ProgressDisplay::kTerminal;
  if (text == "log") return ProgressDisplay::kLog;
  return Status::InvalidArgument("--progress must be auto, tty or log, not '" + text + "'");
}

void InitLogging(const std::string& level, const std::string& process_name, ProgressDisplay progress) {
  const bool block = progress == ProgressDisplay::kTerminal ||
                     (progress == ProgressDisplay::kAuto && isatty(STDERR_FILENO) == 1);
  std::shared_ptr<spdlog::logger> logger;
  if (block) {
    Block() = std::make_shared<StatusBlockSink>();
    logger = std::make_shared<spdlog::logger>(process_name, Block());
  } else {
    logger = spdlog::stderr_color_mt(process_name);
  }
  logger->set_pattern(kPattern);
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") lvl = spdlog::level::info;
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

StatusBlockSink* ProgressBlock() { return Block().get(); }

}  // namespace ferry
