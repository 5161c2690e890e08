// Helpers for transport tests against an in-process DevBroker (real Kafka
// protocol over loopback; nothing mocked on the client side).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "transport/dev_broker.h"
#include "transport/event_consumer.h"
#include "transport/event_producer.h"
#include "transport/rdkafka_util.h"

namespace ferry::transport::testing {

inline std::unique_ptr<DevBroker> StartBroker(DevBrokerOptions options = {}) {
  auto broker = DevBroker::Start(options);
  EXPECT_TRUE(broker.ok()) << broker.status().ToString();
  return broker.ok() ? std::move(broker).value() : nullptr;
}

// Collects delivery reports.
struct Deliveries {
  std::vector<Delivery> reports;
  EventProducer::DeliveryCallback Callback() {
    return [this](const Delivery& d) { reports.push_back(d); };
  }
  size_t failed() const {
    size_t n = 0;
    for (const auto& d : reports) n += d.status.ok() ? 0 : 1;
    return n;
  }
};

// Properties that make clients react fast on loopback.
inline std::vector<std::pair<std::string, std::string>> FastProperties() {
  return {{"reconnect.backoff.ms", "50"},
          {"reconnect.backoff.max.ms", "200"},
          {"fetch.wait.max.ms", "20"}};
}

inline std::vector<std::pair<std::string, std::string>> FastConsumerProperties() {
  auto p = FastProperties();
  p.push_back({"session.timeout.ms", "6000"});
  p.push_back({"heartbeat.interval.ms", "500"});
  return p;
}

inline std::vector<std::pair<std::string, std::string>> FastProducerProperties() {
  return {{"reconnect.backoff.ms", "50"},
          {"reconnect.backoff.max.ms", "200"},
          {"retry.backoff.ms", "50"}};
}

// Topic name -> partition count, listed without creating anything.
inline std::map<std::string, int> Topics(const std::string& bootstrap) {
  auto conf = MakeConf(KafkaOptions{bootstrap, {}}, {});
  EXPECT_TRUE(conf.ok());
  auto rk = NewClient(RD_KAFKA_PRODUCER, std::move(conf).value());
  EXPECT_TRUE(rk.ok());
  auto topics = FetchTopics(rk->get(), 5000);
  EXPECT_TRUE(topics.ok()) << topics.status().ToString();
  return topics.ok() ? *topics : std::map<std::string, int>{};
}

// Every message of `topic` up to its high watermarks at the call, read from
// the beginning without a consumer group (no rebalance delay).
inline std::vector<ConsumedMessage> ReadAll(const std::string& bootstrap, const std::string& topic,
                                            int timeout_ms = 15000) {
  std::vector<ConsumedMessage> out;
  int partitions = Topics(bootstrap)[topic];
  auto conf = MakeConf(KafkaOptions{bootstrap, FastProperties()},
                       {{"group.id", "test-reader"}, {"enable.auto.commit", "false"}});
  EXPECT_TRUE(conf.ok());
  auto rk = NewClient(RD_KAFKA_CONSUMER, std::move(conf).value());
  EXPECT_TRUE(rk.ok());
  PartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
  std::map<int32_t, int64_t> end;  // partition -> high watermark
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    EXPECT_EQ(rd_kafka_query_watermark_offsets(rk->get(), topic.c_str(), p, &low, &high, 5000),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    if (high > low) end[p] = high;
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  EXPECT_EQ(rd_kafka_assign(rk->get(), list.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
  Deadline deadline(timeout_ms);
  while (!end.empty() && !deadline.Expired()) {
    MessagePtr m(rd_kafka_consumer_poll(rk->get(), 100));
    if (m == nullptr || m->err) continue;
    ConsumedMessage& c = out.emplace_back();
    c.tp = {topic, m->partition};
    c.offset = m->offset;
    if (m->key) c.key.assign(static_cast<const char*>(m->key), m->key_len);
    if (m->payload) c.value.assign(static_cast<const char*>(m->payload), m->len);
    auto it = end.find(m->partition);
    if (it != end.end() && m->offset + 1 >= it->second) end.erase(it);
  }
  EXPECT_TRUE(end.empty()) << "partitions not read to their end in time";
  rd_kafka_consumer_close(rk->get());
  return out;
}

// Commits offsets for `group` from outside it (no member joins: no rebalance
// delay), as a restarted apply's earlier run would have.
inline void CommitForGroup(const std::string& bootstrap, const std::string& group,
                           const std::map<TopicPartition, int64_t>& offsets) {
  auto conf = MakeConf(KafkaOptions{bootstrap, {}}, {{"group.id", group}});
  ASSERT_TRUE(conf.ok());
  auto rk = NewClient(RD_KAFKA_CONSUMER, std::move(conf).value());
  ASSERT_TRUE(rk.ok());
  PartitionListPtr list(rd_kafka_topic_partition_list_new(0));
  for (const auto& [tp, offset] : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
  }
  ASSERT_EQ(rd_kafka_commit(rk->get(), list.get(), /*async=*/0), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_consumer_close(rk->get());
}

// Polls `consumer` until `count` messages arrived or `timeout_ms` passed;
// stops at the first error, which it reports through `error`.
inline std::vector<ConsumedMessage> PollUntil(EventConsumer& consumer, size_t count, int timeout_ms,
                                              Status* error = nullptr) {
  std::vector<ConsumedMessage> out;
  Deadline deadline(timeout_ms);
  while (out.size() < count && !deadline.Expired()) {
    auto batch = consumer.PollBatch(1000, 100);
    if (!batch.ok()) {
      if (error != nullptr) *error = batch.status();
      break;
    }
    out.insert(out.end(), batch->begin(), batch->end());
  }
  return out;
}

inline std::string TestTopic(const std::string& suffix) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string("ferry.test.") + info->name() + "_" + suffix;
  return name;
}

}  // namespace ferry::transport::testing
