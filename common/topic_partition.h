// A Kafka topic-partition, the unit apply's positions are kept per.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace ferry {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
  std::string ToString() const { return topic + "[" + std::to_string(partition) + "]"; }
};

}  // namespace ferry
