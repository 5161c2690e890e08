// Where EventConsumer starts each assigned partition, and how a group shares them.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <map>
#include <set>

#include "tests/unit/transport/kafka_test_util.h"
#include "transport/group_lag.h"
#include "transport/naming.h"

namespace ferry::transport {
namespace {

using testing::Deliveries;
using StartFn = EventConsumer::StartOffsetFn;

// Produces `per_key` messages for each of `keys` keys to a new topic with
// `partitions` partitions; returns the number of messages per partition.
std::map<int32_t, int64_t> Fill(const std::string& bootstrap, const std::string& topic,
                                int partitions, int keys, int per_key) {
  Deliveries deliveries;
  EventProducerOptions options;
  options.topic_partitions = partitions;
  auto producer =
      EventProducer::Create(KafkaOptions{bootstrap, {}}, deliveries.Callback(), options);
  EXPECT_TRUE(producer.ok());
  for (int i = 0; i < keys * per_key; ++i) {
    std::string key = EncodeRowKey({{"id", std::to_string(i % keys)}});
    EXPECT_TRUE((*producer)->Produce(topic, key, std::to_string(i), i).ok());
  }
  EXPECT_TRUE((*producer)->Flush(10000).ok());
  std::map<int32_t, int64_t> counts;
  for (const Delivery& d : deliveries.reports) ++counts[d.partition];
  return counts;
}

std::unique_ptr<EventConsumer> Consumer(const std::string& bootstrap, const std::string& group,
                                        const std::string& topic, StartFn start) {
  auto consumer = EventConsumer::Create(KafkaOptions{bootstrap, testing::FastConsumerProperties()},
                                        group, "^" + topic + "$", std::move(start));
  EXPECT_TRUE(consumer.ok()) << consumer.status().ToString();
  return consumer.ok() ? std::move(consumer).value() : nullptr;
}

// partition -> first offset read
std::map<int32_t, int64_t> FirstOffsets(const std::vector<ConsumedMessage>& messages) {
  std::map<int32_t, int64_t> first;
  for (const ConsumedMessage& m : messages) first.try_emplace(m.tp.partition, m.offset);
  return first;
}

TEST(EventConsumerStartTest, ResumesWhereStartOffsetFnSays) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = "ferry.start.stored";
  auto counts = Fill(broker->bootstrap(), topic, 2, 20, 10);
  ASSERT_EQ(counts.size(), 2u);

  std::set<TopicPartition> asked;
  auto consumer = Consumer(broker->bootstrap(), "apply", topic,
                           [&](const TopicPartition& tp) -> Result<std::optional<int64_t>> {
                             asked.insert(tp);
                             return std::optional<int64_t>(5);
                           });
  ASSERT_NE(consumer, nullptr);
  int64_t expected = (counts[0] - 5) + (counts[1] - 5);
  Status error;
  auto messages = testing::PollUntil(*consumer, expected, 15000, &error);
  ASSERT_TRUE(error.ok()) << error.ToString();
  ASSERT_EQ(int64_t(messages.size()), expected);
  EXPECT_EQ(FirstOffsets(messages), (std::map<int32_t, int64_t>{{0, 5}, {1, 5}}));
  EXPECT_EQ(asked, (std::set<TopicPartition>{{topic, 0}, {topic, 1}}));
  EXPECT_TRUE(consumer->Close().ok());
}

// The caller's position (the target's) is where reading starts, behind or
// ahead of the group's committed offset; without one, the log start, whatever
// the group committed (a new target needs every event).
TEST(EventConsumerStartTest, StoredPositionWinsOverTheGroup) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = "ferry.start.committed";
  auto counts = Fill(broker->bootstrap(), topic, 2, 20, 10);
  ASSERT_GE(counts[0], 13);
  ASSERT_GE(counts[1], 13);

  // The group has committed 12 on partition 0 and 3 on partition 1.
  testing::CommitForGroup(broker->bootstrap(), "apply", {{{topic, 0}, 12}, {{topic, 1}, 3}});

  // The store says 7 (behind the group) on partition 0 and nothing on 1.
  auto second = Consumer(broker->bootstrap(), "apply", topic,
                         [](const TopicPartition& tp) -> Result<std::optional<int64_t>> {
                           return tp.partition == 0 ? std::optional<int64_t>(7) : std::nullopt;
                         });
  ASSERT_NE(second, nullptr);
  int64_t expected = (counts[0] - 7) + counts[1];
  auto messages = testing::PollUntil(*second, expected, 15000);
  ASSERT_EQ(int64_t(messages.size()), expected);
  EXPECT_EQ(FirstOffsets(messages), (std::map<int32_t, int64_t>{{0, 7}, {1, 0}}));
  EXPECT_TRUE(second->Close().ok());
}

// A broker that fails the offset queries of a rebalance (the group's committed
// offsets, the log bounds) does not leave the partition unassigned and apply
// idle or dead: the start is the caller's position, checked later by the fetch.
TEST(EventConsumerStartTest, FailedOffsetQueriesDuringAssignmentStillAssignAtTheStoredPosition) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = "ferry.start.flaky";
  auto counts = Fill(broker->bootstrap(), topic, 1, 10, 2);
  ASSERT_EQ(counts[0], 20);
  constexpr int16_t kListOffsets = 2, kOffsetFetch = 9;
  rd_kafka_mock_push_request_errors(broker->mock(), kOffsetFetch, 3, RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED);
  rd_kafka_mock_push_request_errors(broker->mock(), kListOffsets, 2, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  auto consumer = Consumer(broker->bootstrap(), "apply", topic,
                           [](const TopicPartition&) -> Result<std::optional<int64_t>> {
                             return std::optional<int64_t>(12);
                           });
  ASSERT_NE(consumer, nullptr);
  Status error;
  auto messages = testing::PollUntil(*consumer, 8, 20000, &error);
  ASSERT_TRUE(error.ok()) << error.ToString();
  ASSERT_EQ(messages.size(), 8u);
  EXPECT_EQ(messages.front().offset, 12);
  EXPECT_TRUE(consumer->Close().ok());
}

TEST(EventConsumerStartTest, StartOffsetFnErrorReachesPollBatch) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = "ferry.start.error";
  Fill(broker->bootstrap(), topic, 1, 1, 1);
  auto consumer = Consumer(broker->bootstrap(), "apply", topic,
                           [](const TopicPartition&) -> Result<std::optional<int64_t>> {
                             return Status::IOError("store unreadable");
                           });
  ASSERT_NE(consumer, nullptr);
  Status error;
  auto messages = testing::PollUntil(*consumer, 1, 10000, &error);
  EXPECT_TRUE(messages.empty());
  EXPECT_EQ(error.code(), Status::Code::kIOError) << error.ToString();
  EXPECT_NE(error.message().find(topic + "[0]"), std::string::npos) << error.ToString();
  EXPECT_TRUE(consumer->Assignment().empty());
}

TEST(EventConsumerGroupTest, TwoMembersSplitThePartitions) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = "ferry.group.split";
  Fill(broker->bootstrap(), topic, 8, 40, 2);
  auto a = Consumer(broker->bootstrap(), "apply", topic, nullptr);
  auto b = Consumer(broker->bootstrap(), "apply", topic, nullptr);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);

  Deadline deadline(20000);
  while (!deadline.Expired() && (a->Assignment().size() != 4 || b->Assignment().size() != 4)) {
    ASSERT_TRUE(a->PollBatch(1000, 50).ok());
    ASSERT_TRUE(b->PollBatch(1000, 50).ok());
  }
  auto pa = a->Assignment();
  auto pb = b->Assignment();
  ASSERT_EQ(pa.size(), 4u);
  ASSERT_EQ(pb.size(), 4u);
  std::set<TopicPartition> all(pa.begin(), pa.end());
  all.insert(pb.begin(), pb.end());
  EXPECT_EQ(all.size(), 8u);
  EXPECT_TRUE(a->Close().ok());
  EXPECT_TRUE(b->Close().ok());
}

}  // namespace
}  // namespace ferry::transport

namespace ferry::transport {
namespace {

// Apply stopped after its RocksDB write and before the group commit: on the
// next assignment the group catches up, or `ferry lag` would show lag forever.
TEST(EventConsumerStartTest, CommitsAStoredPositionAheadOfTheGroup) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = "ferry.start.stale";
  auto counts = Fill(broker->bootstrap(), topic, 2, 20, 5);
  ASSERT_EQ(counts.size(), 2u);
  auto consumer = Consumer(broker->bootstrap(), "apply", topic,
                           [&](const TopicPartition& tp) -> Result<std::optional<int64_t>> {
                             return std::optional<int64_t>(counts[tp.partition]);  // all applied
                           });
  ASSERT_NE(consumer, nullptr);
  auto monitor = GroupLagMonitor::Create(KafkaOptions{broker->bootstrap(), {}}, "apply");
  ASSERT_TRUE(monitor.ok());
  std::map<int32_t, int64_t> committed;
  Deadline deadline(20000);
  while (committed != counts && deadline.RemainingMs() > 0) {
    auto polled = consumer->PollBatch(10, 100);
    ASSERT_TRUE(polled.ok()) << polled.status().ToString();
    EXPECT_TRUE(polled->empty()) << "everything was applied already";
    auto lags = (*monitor)->Query({topic}, 5000);
    ASSERT_TRUE(lags.ok());
    committed.clear();
    for (const auto& l : *lags) {
      if (l.committed >= 0) committed[l.tp.partition] = l.committed;
    }
  }
  EXPECT_EQ(committed, counts);
  ASSERT_TRUE(consumer->Close().ok());
}

}  // namespace
}  // namespace ferry::transport
