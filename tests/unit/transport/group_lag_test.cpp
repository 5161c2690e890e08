// GroupLagMonitor sees a group's progress from outside it.
#include "transport/group_lag.h"

#include <gtest/gtest.h>

#include "tests/unit/transport/kafka_test_util.h"
#include "transport/commit_metadata.h"
#include "transport/naming.h"

namespace ferry::transport {
namespace {

using testing::Deliveries;

TEST(GroupLagTest, LagIsProducedMinusCommitted) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = "ferry.lag.orders";
  constexpr int kProduced = 400;
  Deliveries deliveries;
  auto producer =
      EventProducer::Create(KafkaOptions{broker->bootstrap(), {}}, deliveries.Callback(), 5000);
  ASSERT_TRUE(producer.ok());
  for (int i = 0; i < kProduced; ++i) {
    ASSERT_TRUE(
        (*producer)->Produce(topic, EncodeRowKey({{"id", std::to_string(i)}}), "v", i).ok());
  }
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  std::map<int32_t, int64_t> per_partition;
  for (const Delivery& d : deliveries.reports) ++per_partition[d.partition];
  ASSERT_EQ(per_partition.size(), 8u);

  auto monitor = GroupLagMonitor::Create(KafkaOptions{broker->bootstrap(), {}}, "apply");
  ASSERT_TRUE(monitor.ok());
  auto before = (*monitor)->Query({topic}, 5000);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  int64_t lag_before = 0;
  for (const PartitionLag& p : *before) {
    EXPECT_EQ(p.committed, -1);
    lag_before += p.lag();
  }
  EXPECT_EQ(lag_before, kProduced);

  // The group commits half of every partition: K in all.
  auto consumer =
      EventConsumer::Create(KafkaOptions{broker->bootstrap(), testing::FastConsumerProperties()},
                            "apply", "^ferry\\.lag\\..*", nullptr);
  ASSERT_TRUE(consumer.ok());
  testing::PollUntil(**consumer, kProduced, 15000);
  std::map<TopicPartition, int64_t> commits;
  int64_t committed = 0;
  for (const auto& [partition, count] : per_partition) {
    commits[{topic, partition}] = count / 2;
    committed += count / 2;
  }
  ASSERT_TRUE((*consumer)->CommitOffsets(commits).ok());
  ASSERT_TRUE((*consumer)->Close().ok());

  auto after = (*monitor)->Query({topic}, 5000);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  ASSERT_EQ(after->size(), 8u);
  int64_t lag = 0;
  for (const PartitionLag& p : *after) {
    EXPECT_EQ(p.log_start, 0);
    EXPECT_EQ(p.log_end, per_partition[p.tp.partition]);
    EXPECT_EQ(p.committed, per_partition[p.tp.partition] / 2);
    lag += p.lag();
  }
  EXPECT_EQ(lag, kProduced - committed);
}

// Seen from outside, a group has read up to the later of its committed offset
// and the read_offset apply reports in the commit metadata.
TEST(GroupLagTest, ReadPositionIsTheLaterOfCommittedAndReportedReadOffset) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = "ferry.lag.read";
  Deliveries deliveries;
  EventProducerOptions po;
  po.topic_partitions = 1;
  auto producer = EventProducer::Create(KafkaOptions{broker->bootstrap(), {}}, deliveries.Callback(), po);
  ASSERT_TRUE(producer.ok());
  for (int i = 0; i < 30; ++i) ASSERT_TRUE((*producer)->Produce(topic, "k", "v", i).ok());
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  TopicPartition tp{topic, 0};

  auto consumer = EventConsumer::Create(KafkaOptions{broker->bootstrap(), testing::FastConsumerProperties()},
                                        "apply", "^ferry\\.lag\\.read$", nullptr);
  ASSERT_TRUE(consumer.ok());
  testing::PollUntil(**consumer, 30, 15000);
  auto monitor = GroupLagMonitor::Create(KafkaOptions{broker->bootstrap(), {}}, "apply");
  ASSERT_TRUE(monitor.ok());
  auto expect = [&](int64_t committed, const std::string& metadata, int64_t lag, int64_t unread) {
    ASSERT_TRUE((*consumer)->CommitOffsets({{tp, committed}}, {{tp, metadata}}).ok());
    PartitionLag seen;
    Deadline deadline(10000);
    while ((seen.committed != committed || seen.metadata != metadata) && !deadline.Expired()) {
      ASSERT_TRUE((*consumer)->PollBatch(10, 50).ok());
      auto lags = (*monitor)->Query({topic}, 5000);
      ASSERT_TRUE(lags.ok()) << lags.status().ToString();
      ASSERT_EQ(lags->size(), 1u);
      seen = lags->front();
    }
    EXPECT_EQ(seen.lag(), lag) << metadata;
    EXPECT_EQ(seen.unread(), unread) << metadata;
  };
  expect(10, EncodeCommitMetadata({AppliedPosition{Lsn(5), 6}, 25}), 20, 5);
  expect(10, EncodeAppliedPosition({Lsn(5), 6}), 20, 20);  // metadata from before read_offset
  expect(12, EncodeCommitMetadata({std::nullopt, 3}), 18, 18);  // a stale read_offset behind the commit
  ASSERT_TRUE((*consumer)->Close().ok());
}

TEST(GroupLagTest, ListsTopicsByPrefixAndNeverCreatesOne) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  Deliveries deliveries;
  auto producer =
      EventProducer::Create(KafkaOptions{broker->bootstrap(), {}}, deliveries.Callback(), 5000);
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE((*producer)->EnsureTopic("ferry.a.one", 5000).ok());
  ASSERT_TRUE((*producer)->EnsureTopic("other.a.two", 5000).ok());

  auto monitor = GroupLagMonitor::Create(KafkaOptions{broker->bootstrap(), {}}, "apply");
  ASSERT_TRUE(monitor.ok());
  auto missing = (*monitor)->Query({"ferry.a.missing"}, 5000);
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->empty());

  auto ferry = (*monitor)->ListTopics("ferry.", 5000);
  ASSERT_TRUE(ferry.ok());
  EXPECT_EQ(*ferry, std::vector<std::string>{"ferry.a.one"});
  auto all = (*monitor)->ListTopics("", 5000);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, (std::vector<std::string>{"ferry.a.one", "other.a.two"}));
}

}  // namespace
}  // namespace ferry::transport
