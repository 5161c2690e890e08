// The dev broker: loopback address, partitions of the topics ferry creates, and
// the measured limits of librdkafka 2.0.2's mock cluster it lives with.
#include "transport/dev_broker.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "tests/unit/transport/kafka_test_util.h"

namespace ferry::transport {
namespace {

using testing::Deliveries;

TEST(DevBrokerTest, ListensOnLoopback) {
  auto broker = testing::StartBroker({.brokers = 3, .partitions = 8});
  ASSERT_NE(broker, nullptr);
  std::string bootstrap = broker->bootstrap();
  EXPECT_EQ(bootstrap.rfind("127.0.0.1:", 0), 0u) << bootstrap;
  EXPECT_EQ(std::count(bootstrap.begin(), bootstrap.end(), ','), 2) << bootstrap;
}

TEST(DevBrokerTest, TopicsAProducerCreatesGetThePartitionsOption) {
  auto broker = testing::StartBroker({.brokers = 1, .partitions = 3});
  ASSERT_NE(broker, nullptr);
  Deliveries deliveries;
  auto producer =
      EventProducer::Create(KafkaOptions{broker->bootstrap(), {}}, deliveries.Callback(), 5000);
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE((*producer)->EnsureTopic("ferry.a.b", 5000).ok());
  ASSERT_TRUE((*producer)->Produce("ferry.a.c", "k", "v", 1).ok());  // ensures on first use

  EventProducerOptions one_partition;
  one_partition.topic_partitions = 1;
  auto other = EventProducer::Create(KafkaOptions{broker->bootstrap(), {}}, deliveries.Callback(),
                                     one_partition);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->EnsureTopic("ferry.a.d", 5000).ok());
  // An existing topic keeps its partitions.
  ASSERT_TRUE((*other)->EnsureTopic("ferry.a.b", 5000).ok());

  auto topics = testing::Topics(broker->bootstrap());
  EXPECT_EQ(topics["ferry.a.b"], 3);
  EXPECT_EQ(topics["ferry.a.c"], 3);
  EXPECT_EQ(topics["ferry.a.d"], 1);
}

// Pins the limitation DevBrokerOptions::partitions works around: a topic
// created by a metadata request naming it gets the mock's fixed 4 partitions.
// If this fails, librdkafka changed and the workaround may be unnecessary.
TEST(DevBrokerTest, MockAutoCreatesForeignTopicsWithFourPartitions) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  auto conf = MakeConf(KafkaOptions{broker->bootstrap(), {}}, {});
  ASSERT_TRUE(conf.ok());
  auto rk = NewClient(RD_KAFKA_PRODUCER, std::move(conf).value());
  ASSERT_TRUE(rk.ok());
  TopicPtr rkt(rd_kafka_topic_new(rk->get(), "foreign", nullptr));
  const rd_kafka_metadata_t* md = nullptr;
  ASSERT_EQ(rd_kafka_metadata(rk->get(), 0, rkt.get(), &md, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
  MetadataPtr owned(md);
  ASSERT_EQ(md->topic_cnt, 1);
  EXPECT_EQ(md->topics[0].partition_cnt, 4);
}

}  // namespace
}  // namespace ferry::transport
