// Topic administration on a real Kafka cluster, for EventProducer: create a
// topic with the settings capture needs, and read back what an existing one
// has. Internal to transport/.
//
// Apache Kafka semantics relied on (checked against the protocol and the
// broker's documented behaviour; the dev broker implements none of these
// requests, see DEV-BROKER facts in README):
//   - CreateTopics v4+ (Kafka >= 2.4) takes -1 partitions / -1 replication
//     factor for the broker's num.partitions / default.replication.factor;
//     TOPIC_ALREADY_EXISTS when another client won the race.
//   - The topic config max.message.bytes bounds one record batch as stored
//     (after compression); a larger batch is refused with MESSAGE_TOO_LARGE.
//     Its default is the broker's message.max.bytes (1048588).
//   - DescribeConfigs on a topic returns every effective config, with its
//     source (topic override, broker, default).
//   - cleanup.policy=compact keeps only the last record per key: change
//     events would be lost.
//
// Thread-safety: functions; they use the given client's admin queue.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "transport/rdkafka_util.h"

namespace ferry::transport {

// The largest change event capture sends (a whole row, TOASTed values
// included): the producer's message.max.bytes, and the max.message.bytes of
// the topics it creates.
inline constexpr int64_t kMaxEventBytes = 64 << 20;

struct NewTopicSettings {
  int partitions = -1;          // -1: the broker's num.partitions
  int replication_factor = -1;  // -1: the broker's default.replication.factor
  int64_t max_message_bytes = kMaxEventBytes;
};

// CreateTopics; OK when the topic exists already. InvalidArgument when the
// cluster refuses (authorization, policy, bad settings) with what to do
// instead; Unavailable when it does not answer in time.
Status CreateTopic(rd_kafka_t* rk, const std::string& topic, const NewTopicSettings& settings,
                   const Deadline& deadline);

// What DescribeConfigs says of a topic; nullopt fields were not reported.
struct TopicConfig {
  std::optional<int64_t> max_message_bytes;
  std::string max_message_bytes_source;  // "DYNAMIC_TOPIC_CONFIG", "DEFAULT_CONFIG", ...
  std::optional<std::string> cleanup_policy;
};
// Unavailable when the cluster does not answer (e.g. it has no DescribeConfigs).
Result<TopicConfig> DescribeTopicConfig(rd_kafka_t* rk, const std::string& topic, const Deadline& deadline);

// Partitions and the smallest replica count of any partition, from metadata.
struct TopicLayout {
  int partitions = 0;
  int min_replicas = 0;
};
Result<TopicLayout> DescribeTopicLayout(rd_kafka_t* rk, const std::string& topic, int timeout_ms);

}  // namespace ferry::transport
