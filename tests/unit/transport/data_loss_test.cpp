// Events evicted before apply read them are reported as DataLoss, never skipped.
// The dev broker keeps about 5 MiB per partition; these tests overflow that.
#include <gtest/gtest.h>

#include <random>

#include "tests/unit/transport/kafka_test_util.h"

namespace ferry::transport {
namespace {

using testing::Deliveries;

constexpr size_t kBigMessage = 100 * 1024;

// 100 KiB that no codec shrinks (the producer compresses).
std::string Incompressible() {
  std::mt19937_64 random(42);
  std::string value(kBigMessage, '\0');
  for (char& c : value) c = static_cast<char>(random());
  return value;
}

// Writes `count` messages of 100 KiB to `topic` (one partition); returns its watermarks.
std::pair<int64_t, int64_t> Overflow(EventProducer& producer, const std::string& bootstrap,
                                     const std::string& topic, int count) {
  std::string value = Incompressible();
  for (int i = 0; i < count; ++i) EXPECT_TRUE(producer.Produce(topic, "k", value, i).ok());
  EXPECT_TRUE(producer.Flush(20000).ok());
  auto conf = MakeConf(KafkaOptions{bootstrap, {}}, {});
  auto rk = NewClient(RD_KAFKA_PRODUCER, std::move(conf).value());
  int64_t low = -1, high = -1;
  EXPECT_EQ(rd_kafka_query_watermark_offsets(rk->get(), topic.c_str(), 0, &low, &high, 5000),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  return {low, high};
}

std::unique_ptr<EventProducer> OnePartitionProducer(const std::string& bootstrap,
                                                    Deliveries& deliveries) {
  EventProducerOptions options;
  options.topic_partitions = 1;
  auto producer =
      EventProducer::Create(KafkaOptions{bootstrap, {}}, deliveries.Callback(), options);
  EXPECT_TRUE(producer.ok());
  return producer.ok() ? std::move(producer).value() : nullptr;
}

// Each test has a dev broker of its own, and a producer of one-partition topics.
class DataLossTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = testing::StartBroker();
    ASSERT_NE(broker_, nullptr);
    producer_ = OnePartitionProducer(broker_->bootstrap(), deliveries_);
    ASSERT_NE(producer_, nullptr);
  }

  std::unique_ptr<DevBroker> broker_;
  Deliveries deliveries_;
  std::unique_ptr<EventProducer> producer_;
};

// Apply's consumer of `topic`, starting at `stored` (nullopt: nothing applied yet).
Result<std::unique_ptr<EventConsumer>> ApplyConsumer(const std::string& bootstrap, const std::string& topic,
                                                     std::optional<int64_t> stored) {
  return EventConsumer::Create(KafkaOptions{bootstrap, testing::FastConsumerProperties()}, "apply",
                               "^" + topic + "$",
                               [stored](const TopicPartition&) -> Result<std::optional<int64_t>> { return stored; });
}

TEST_F(DataLossTest, StoredPositionBelowLogStartIsDataLossNamingThePartition) {
  const std::string topic = "ferry.loss.evicted";
  auto [low, high] = Overflow(*producer_, broker_->bootstrap(), topic, 80);  // ~8 MiB
  ASSERT_EQ(high, 80);
  ASSERT_GT(low, 0) << "the mock did not evict: the test proves nothing";
  EXPECT_EQ(deliveries_.failed(), 0u);

  auto consumer = ApplyConsumer(broker_->bootstrap(), topic, 0);
  ASSERT_TRUE(consumer.ok());
  Status error;
  auto messages = testing::PollUntil(**consumer, 1, 15000, &error);
  EXPECT_TRUE(messages.empty());
  ASSERT_EQ(error.code(), Status::Code::kDataLoss) << error.ToString();
  EXPECT_NE(error.message().find(topic + "[0]"), std::string::npos) << error.message();
  EXPECT_NE(error.message().find("stored position 0"), std::string::npos) << error.message();
  EXPECT_NE(error.message().find("log start offset " + std::to_string(low)), std::string::npos)
      << error.message();

  // Polling on does not skip past the hole.
  messages = testing::PollUntil(**consumer, 1, 2000, &error);
  EXPECT_TRUE(messages.empty());
  EXPECT_EQ(error.code(), Status::Code::kDataLoss) << error.ToString();
}

// Nothing applied yet (a new target) and the log no longer starts at 0: the
// first events were evicted before any apply read them. Starting at the log
// start would have skipped them without a word.
TEST_F(DataLossTest, NothingAppliedAndTheFirstEventsGoneIsDataLoss) {
  const std::string topic = "ferry.loss.fresh";
  auto [low, high] = Overflow(*producer_, broker_->bootstrap(), topic, 80);
  ASSERT_GT(low, 0) << "the mock did not evict: the test proves nothing";

  auto consumer = ApplyConsumer(broker_->bootstrap(), topic, std::nullopt);  // no applied position
  ASSERT_TRUE(consumer.ok());
  Status error;
  auto messages = testing::PollUntil(**consumer, 1, 15000, &error);
  EXPECT_TRUE(messages.empty()) << "read from offset " << (messages.empty() ? -1 : messages.front().offset);
  ASSERT_EQ(error.code(), Status::Code::kDataLoss) << error.ToString();
  EXPECT_NE(error.message().find("nothing was applied from it yet"), std::string::npos) << error.message();
  EXPECT_NE(error.message().find("starts at offset " + std::to_string(low)), std::string::npos) << error.message();
}

// The consumer falls behind while it reads: its fetch position is evicted.
TEST_F(DataLossTest, PositionEvictedWhileReadingIsDataLoss) {
  const std::string topic = "ferry.loss.behind";
  Overflow(*producer_, broker_->bootstrap(), topic, 10);

  // Small prefetch, so the consumer cannot buffer what is about to be evicted.
  auto properties = testing::FastConsumerProperties();
  properties.push_back({"queued.max.messages.kbytes", "100"});
  properties.push_back({"max.partition.fetch.bytes", "100000"});
  auto consumer = EventConsumer::Create(KafkaOptions{broker_->bootstrap(), properties}, "apply",
                                        "^" + topic + "$", nullptr);
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  auto first = testing::PollUntil(**consumer, 1, 15000);
  ASSERT_FALSE(first.empty());

  auto [low, high] = Overflow(*producer_, broker_->bootstrap(), topic, 80);
  ASSERT_GT(low, 20);
  Status error;
  testing::PollUntil(**consumer, high, 15000, &error);
  ASSERT_EQ(error.code(), Status::Code::kDataLoss) << error.ToString();
  EXPECT_NE(error.message().find(topic + "[0]"), std::string::npos) << error.message();
}

TEST_F(DataLossTest, StoredPositionBeyondLogEndIsDataLoss) {
  // What a restarted (empty) dev broker looks like to apply.
  const std::string topic = "ferry.loss.restarted";
  ASSERT_TRUE(producer_->Produce(topic, "k", "v", 1).ok());
  ASSERT_TRUE(producer_->Flush(5000).ok());
  auto consumer = ApplyConsumer(broker_->bootstrap(), topic, 500);
  ASSERT_TRUE(consumer.ok());
  Status error;
  testing::PollUntil(**consumer, 1, 15000, &error);
  ASSERT_EQ(error.code(), Status::Code::kDataLoss) << error.ToString();
  EXPECT_NE(error.message().find("beyond the log end offset 1"), std::string::npos)
      << error.message();
}

}  // namespace
}  // namespace ferry::transport
