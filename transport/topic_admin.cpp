#include "transport/topic_admin.h"

#include <algorithm>
#include <cstdlib>

namespace ferry::transport {

namespace {

using ConfigResourcePtr = std::unique_ptr<rd_kafka_ConfigResource_t, decltype(&rd_kafka_ConfigResource_destroy)>;

std::string CreateYourself(const std::string& topic, const NewTopicSettings& s) {
  return "create it yourself: kafka-topics.sh --create --topic " + topic +
         (s.partitions > 0 ? " --partitions " + std::to_string(s.partitions) : "") +
         (s.replication_factor > 0 ? " --replication-factor " + std::to_string(s.replication_factor) : "") +
         " --config max.message.bytes=" + std::to_string(s.max_message_bytes);
}

}  // namespace

Status CreateTopic(rd_kafka_t* rk, const std::string& topic, const NewTopicSettings& settings,
                   const Deadline& deadline) {
  char err[512];
  NewTopicPtr new_topic(
      rd_kafka_NewTopic_new(topic.c_str(), settings.partitions, settings.replication_factor, err, sizeof err));
  if (new_topic == nullptr) return Status::InvalidArgument("topic " + topic + ": " + err);
  // The brokers' default (about 1 MB) would refuse a large row.
  std::string max_bytes = std::to_string(settings.max_message_bytes);
  rd_kafka_NewTopic_set_config(new_topic.get(), "max.message.bytes", max_bytes.c_str());
  std::string what = "creating topic " + topic;
  FERRY_ASSIGN_OR_RETURN(EventPtr ev, AdminRequest(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, deadline, what,
                                                   [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                                                     rd_kafka_NewTopic_t* request[] = {new_topic.get()};
                                                     rd_kafka_CreateTopics(rk, request, 1, o, q);
                                                   }));
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) continue;
    const char* detail = rd_kafka_topic_result_error_string(results[i]);
    std::string why = what + ": " + KafkaErrorText(e) + (detail ? std::string(" (") + detail + ")" : "");
    switch (e) {
      case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        return Status::InvalidArgument(why + ": grant capture's principal CREATE on the topic, or " +
                                       CreateYourself(topic, settings));
      case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
      case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
      case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
      case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
      case RD_KAFKA_RESP_ERR_INVALID_REQUEST:
      case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
        return Status::InvalidArgument(why + ": check --topic-partitions and --topic-replication-factor (a "
                                       "Kafka before 2.4 needs both), or " + CreateYourself(topic, settings));
      default:
        return KafkaStatus(e, what + (detail ? std::string(" (") + detail + ")" : ""));
    }
  }
  return Status::OK();
}

Result<TopicConfig> DescribeTopicConfig(rd_kafka_t* rk, const std::string& topic, const Deadline& deadline) {
  ConfigResourcePtr resource(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()),
                             &rd_kafka_ConfigResource_destroy);
  std::string what = "describing the configuration of topic " + topic;
  FERRY_ASSIGN_OR_RETURN(EventPtr ev, AdminRequest(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, deadline, what,
                                                   [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                                                     rd_kafka_ConfigResource_t* request[] = {resource.get()};
                                                     rd_kafka_DescribeConfigs(rk, request, 1, o, q);
                                                   }));
  size_t n = 0;
  const rd_kafka_ConfigResource_t** resources =
      rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev.get()), &n);
  TopicConfig config;
  for (size_t i = 0; i < n; ++i) {
    if (rd_kafka_ConfigResource_error(resources[i])) {
      return KafkaStatus(rd_kafka_ConfigResource_error(resources[i]), what);
    }
    size_t entries = 0;
    const rd_kafka_ConfigEntry_t** e = rd_kafka_ConfigResource_configs(resources[i], &entries);
    for (size_t k = 0; k < entries; ++k) {
      std::string name = rd_kafka_ConfigEntry_name(e[k]);
      const char* value = rd_kafka_ConfigEntry_value(e[k]);
      if (value == nullptr) continue;
      if (name == "max.message.bytes") {
        config.max_message_bytes = std::strtoll(value, nullptr, 10);
        config.max_message_bytes_source = rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(e[k]));
      } else if (name == "cleanup.policy") {
        config.cleanup_policy = value;
      }
    }
  }
  return config;
}

Result<TopicLayout> DescribeTopicLayout(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  TopicPtr rkt(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt.get(), &raw, std::max(timeout_ms, 1));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaStatus(err, "reading the metadata of topic " + topic);
  MetadataPtr md(raw);
  if (md->topic_cnt != 1 || md->topics[0].err) {
    return KafkaStatus(md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                       "reading the metadata of topic " + topic);
  }
  TopicLayout layout;
  layout.partitions = md->topics[0].partition_cnt;
  layout.min_replicas = layout.partitions > 0 ? md->topics[0].partitions[0].replica_cnt : 0;
  for (int p = 0; p < layout.partitions; ++p) {
    layout.min_replicas = std::min(layout.min_replicas, md->topics[0].partitions[p].replica_cnt);
  }
  return layout;
}

}  // namespace ferry::transport
