#include "common/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace ferry {

void InitLogging(const std::string& level, const std::string& process_name) {
  auto logger = spdlog::stderr_color_mt(process_name);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") lvl = spdlog::level::info;
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace ferry
