// Options shared by every Kafka client ferry creates.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ferry::transport {

struct KafkaOptions {
  // bootstrap.servers: "host:port[,host:port...]".
  std::string brokers;
  // librdkafka properties passed through untouched (--kafka-property key=value),
  // applied after ferry's defaults so they override them.
  std::vector<std::pair<std::string, std::string>> properties;
};

// "key=value" -> {key, value}; InvalidArgument when there is no '=' or the key is empty.
Result<std::pair<std::string, std::string>> ParseKafkaProperty(const std::string& text);

}  // namespace ferry::transport
