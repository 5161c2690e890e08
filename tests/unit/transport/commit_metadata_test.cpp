// Apply's position travels in the offset commit metadata: the encoding, and a
// round trip through the dev broker (librdkafka's mock cluster must store the
// metadata and return it on OffsetFetch for `ferry lag` to see it).
#include "transport/commit_metadata.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "tests/unit/transport/kafka_test_util.h"
#include "transport/group_lag.h"
#include "transport/naming.h"

namespace ferry::transport {
namespace {

TEST(CommitMetadataTest, EncodesCompactJsonAndReadsItBack) {
  AppliedPosition p{Lsn(0x16B3F48), 1700000000123456};
  std::string text = EncodeAppliedPosition(p);
  EXPECT_EQ(text, R"({"commit_time_us":1700000000123456,"lsn":"0/16B3F48"})");
  auto back = DecodeAppliedPosition(text);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->lsn, p.lsn);
  EXPECT_EQ(back->commit_time_us, p.commit_time_us);
}

TEST(CommitMetadataTest, IgnoresMetadataFerryDidNotWrite) {
  EXPECT_FALSE(DecodeAppliedPosition("").has_value());
  EXPECT_FALSE(DecodeAppliedPosition("some other tool").has_value());
  EXPECT_FALSE(DecodeAppliedPosition(R"({"lsn":"nope","commit_time_us":1})").has_value());
  EXPECT_FALSE(DecodeAppliedPosition(R"({"lsn":"0/1"})").has_value());
  EXPECT_FALSE(DecodeAppliedPosition(R"({"lsn":"0/1","commit_time_us":"1"})").has_value());
}

// While apply streams a large transaction, its committed offset stays at the
// transaction's start; how far it has read travels beside the applied position.
TEST(CommitMetadataTest, ReadOffsetTravelsBesideTheAppliedPosition) {
  CommitMetadata m{AppliedPosition{Lsn(0x16B3F48), 1700000000123456}, 90210};
  std::string text = EncodeCommitMetadata(m);
  EXPECT_EQ(text, R"({"commit_time_us":1700000000123456,"lsn":"0/16B3F48","read_offset":90210})");
  CommitMetadata back = DecodeCommitMetadata(text);
  ASSERT_TRUE(back.applied.has_value());
  EXPECT_EQ(back.applied->lsn, Lsn(0x16B3F48));
  EXPECT_EQ(back.read_offset, 90210);
  // The applied position alone still reads as it did.
  EXPECT_EQ(DecodeAppliedPosition(text)->lsn, Lsn(0x16B3F48));

  // Read, nothing applied yet.
  CommitMetadata only_read = DecodeCommitMetadata(EncodeCommitMetadata({std::nullopt, 7}));
  EXPECT_FALSE(only_read.applied.has_value());
  EXPECT_EQ(only_read.read_offset, 7);

  // Metadata written before read_offset existed.
  CommitMetadata old = DecodeCommitMetadata(R"({"lsn":"0/1","commit_time_us":2})");
  ASSERT_TRUE(old.applied.has_value());
  EXPECT_FALSE(old.read_offset.has_value());

  EXPECT_TRUE(DecodeCommitMetadata(R"({"read_offset":-1})").empty());
  EXPECT_TRUE(DecodeCommitMetadata(R"({"read_offset":"5"})").empty());
  EXPECT_TRUE(DecodeCommitMetadata(R"({"lsn":"0/1","read_offset":5})").empty()) << "half an applied position";
}

TEST(CommitMetadataTest, DevBrokerReturnsCommittedMetadata) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = "ferry.meta.t";
  testing::Deliveries deliveries;
  auto producer = EventProducer::Create(KafkaOptions{broker->bootstrap(), {}}, deliveries.Callback(), 5000);
  ASSERT_TRUE(producer.ok());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE((*producer)->Produce(topic, EncodeRowKey({{"id", std::to_string(i)}}), "v", i).ok());
  }
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  std::map<int32_t, int64_t> per_partition;
  for (const Delivery& d : deliveries.reports) ++per_partition[d.partition];

  auto consumer = EventConsumer::Create(KafkaOptions{broker->bootstrap(), testing::FastConsumerProperties()},
                                        "apply", "^ferry\\.meta\\..*", nullptr);
  ASSERT_TRUE(consumer.ok());
  testing::PollUntil(**consumer, 50, 15000);
  std::map<TopicPartition, int64_t> commits;
  std::map<TopicPartition, std::string> metadata;
  for (const auto& [partition, count] : per_partition) {
    TopicPartition tp{topic, partition};
    commits[tp] = count;
    metadata[tp] = EncodeAppliedPosition({Lsn(1000 + partition), 5000 + partition});
  }
  ASSERT_TRUE((*consumer)->CommitOffsets(commits, metadata).ok());
  ASSERT_TRUE((*consumer)->Close().ok());

  auto monitor = GroupLagMonitor::Create(KafkaOptions{broker->bootstrap(), {}}, "apply");
  ASSERT_TRUE(monitor.ok());
  auto lags = (*monitor)->Query({topic}, 5000);
  ASSERT_TRUE(lags.ok()) << lags.status().ToString();
  int with_metadata = 0;
  for (const PartitionLag& p : *lags) {
    if (!per_partition.count(p.tp.partition)) continue;
    EXPECT_EQ(p.committed, per_partition[p.tp.partition]);
    auto applied = DecodeAppliedPosition(p.metadata);
    ASSERT_TRUE(applied.has_value()) << p.tp.ToString() << " metadata '" << p.metadata << "'";
    EXPECT_EQ(applied->lsn, Lsn(1000 + p.tp.partition));
    EXPECT_EQ(applied->commit_time_us, 5000 + p.tp.partition);
    ++with_metadata;
  }
  EXPECT_EQ(with_metadata, static_cast<int>(per_partition.size()));
}

// A commit the broker refuses is sent again by a later poll, so the group's
// view (ferry lag's) does not stay behind what apply applied.
TEST(CommitMetadataTest, FailedCommitIsRetriedByTheNextPoll) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = "ferry.meta.retry";
  testing::Deliveries deliveries;
  auto producer = EventProducer::Create(KafkaOptions{broker->bootstrap(), {}}, deliveries.Callback(), 5000);
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE((*producer)->Produce(topic, EncodeRowKey({{"id", "1"}}), "v", 1).ok());
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  ASSERT_EQ(deliveries.reports.size(), 1u);
  TopicPartition tp{topic, deliveries.reports[0].partition};

  auto consumer = EventConsumer::Create(KafkaOptions{broker->bootstrap(), testing::FastConsumerProperties()},
                                        "apply", "^ferry\\.meta\\.retry$", nullptr);
  ASSERT_TRUE(consumer.ok());
  testing::PollUntil(**consumer, 1, 15000);
  constexpr int kOffsetCommitApiKey = 8;
  rd_kafka_mock_push_request_errors(broker->mock(), kOffsetCommitApiKey, 1,
                                    RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE);
  std::string metadata = EncodeAppliedPosition({Lsn(77), 88});
  ASSERT_TRUE((*consumer)->CommitOffsets({{tp, 1}}, {{tp, metadata}}).ok());

  auto monitor = GroupLagMonitor::Create(KafkaOptions{broker->bootstrap(), {}}, "apply");
  ASSERT_TRUE(monitor.ok());
  PartitionLag seen;
  Deadline deadline(15000);
  while (seen.committed != 1 && deadline.RemainingMs() > 0) {
    ASSERT_TRUE((*consumer)->PollBatch(10, 100).ok());
    auto lags = (*monitor)->Query({topic}, 5000);
    ASSERT_TRUE(lags.ok());
    for (const auto& l : *lags) {
      if (l.tp == tp) seen = l;
    }
  }
  EXPECT_EQ(seen.committed, 1);
  EXPECT_EQ(seen.metadata, metadata);
  ASSERT_TRUE((*consumer)->Close().ok());
}

}  // namespace
}  // namespace ferry::transport
