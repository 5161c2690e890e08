// What kind of Kafka cluster we are talking to.
#pragma once

#include <map>
#include <string>

#include "common/status.h"
#include "transport/kafka_options.h"

namespace ferry::transport {

// The cluster id from a metadata request; Unavailable when no broker answers.
Result<std::string> FetchClusterId(const KafkaOptions& options, int timeout_ms);

// Every topic of the cluster with its partition count (a metadata request for
// all topics, which never creates one).
Result<std::map<std::string, int>> ListTopics(const KafkaOptions& options, int timeout_ms);

// librdkafka's mock cluster (`ferry dev-broker`) names itself "mockCluster...".
// It silently evicts old messages, so capture turns flow control on against it.
bool IsDevBrokerClusterId(const std::string& cluster_id);

}  // namespace ferry::transport
