#include "transport/kafka_options.h"

namespace ferry::transport {

Result<std::pair<std::string, std::string>> ParseKafkaProperty(const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return Status::InvalidArgument("--kafka-property expects key=value, got '" + text + "'");
  }
  return std::make_pair(text.substr(0, eq), text.substr(eq + 1));
}

}  // namespace ferry::transport
