// Topic creation on the dev broker. Internal to transport/.
//
// Why: librdkafka 2.0.2's mock cluster auto-creates every topic with 4
// partitions (a constant in rd_kafka_mock_cluster_new, no setter) and does not
// implement the CreateTopics admin request (measured: the request times out
// "waiting for controller"). Its only way to choose a partition count is
// rd_kafka_mock_topic_create(), callable only inside the process hosting it.
//
// So the dev broker hosts one extra topic, kTopicRequestsTopic, and creates
// (with rd_kafka_mock_topic_create) each topic named in a request written there:
//
//   value: {"topic":"<name>","partitions":N}   N = 0: the dev broker's --partitions
//
// EventProducer::EnsureTopic writes such a request when that topic exists and
// the wanted topic does not, then waits until metadata lists it. Topics
// reached any other way (a produce without EnsureTopic from a foreign client, a
// metadata request naming the topic) are still auto-created with 4 partitions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ferry::transport {

inline constexpr char kTopicRequestsTopic[] = "__ferry_dev_broker.create_topics";

struct TopicRequest {
  std::string topic;
  int partitions = 0;  // 0: the dev broker's default
};

std::string EncodeTopicRequest(const TopicRequest& request);
// nullopt when `value` is not a well-formed request.
std::optional<TopicRequest> DecodeTopicRequest(std::string_view value);

// Kafka's rule: 1..249 characters of [A-Za-z0-9._-], and not "." or "..".
bool IsLegalTopicName(std::string_view name);

}  // namespace ferry::transport
