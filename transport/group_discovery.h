// ConsumerGroupFinder: which consumer groups consume given topics, asked of the
// cluster with the Admin API (ListGroups, then DescribeGroups for each group's
// members and their assignments). Used by capture's flow control to follow the
// groups that really read capture's topics instead of a guessed name.
//
// librdkafka 2.0.2's mock cluster (`ferry dev-broker`) implements neither
// ListGroups nor DescribeGroups (measured: librdkafka answers "Required feature
// not supported by broker" at once); FindConsuming then returns nullopt, and
// the caller must fall back to a group name it was given.
//
// Thread-safety: one thread uses a finder.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "transport/kafka_options.h"

namespace ferry::transport {

struct ConsumingGroups {
  // Groups with a member assigned a partition of one of the topics.
  std::set<std::string> consuming;
  // Every group the cluster lists (any state but Dead), to tell a group that
  // exists but has no members now (apply stopped) from one that is gone.
  std::set<std::string> existing;
};

class ConsumerGroupFinder {
 public:
  static Result<std::unique_ptr<ConsumerGroupFinder>> Create(const KafkaOptions& options);
  ~ConsumerGroupFinder();
  // nullopt when the cluster cannot list or describe groups (the dev broker);
  // Unavailable when it does not answer within timeout_ms.
  Result<std::optional<ConsumingGroups>> FindConsuming(const std::vector<std::string>& topics,
                                                       int timeout_ms);

 private:
  struct Impl;
  explicit ConsumerGroupFinder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::transport
