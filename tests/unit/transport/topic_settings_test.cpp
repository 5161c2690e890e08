// The topics capture writes to are created and checked by the producer, not
// left to a broker's auto-creation; an event too large for them is an error
// naming its row and the setting (issue 12, "Real Kafka"). Against the dev
// broker: its topic requests stand in for CreateTopics, and its request-error
// injection for a broker refusing a record as too large.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "tests/unit/transport/kafka_test_util.h"
#include "transport/change_event.pb.h"

namespace ferry::transport {
namespace {

using testing::Deliveries;

constexpr int16_t kProduceApiKey = 0;

// An UPDATE of "public"."docs" at commit LSN 0/1A2B3C4 whose row carries `bytes` of text.
std::string BigEvent(size_t bytes) {
  ferry::v1::ChangeEvent e;
  e.set_schema("public");
  e.set_table("docs");
  e.set_op(ferry::v1::OP_UPDATE);
  e.set_commit_lsn(0x1A2B3C4);
  e.set_index_in_tx(3);
  auto* c = e.add_columns();
  c->set_name("body");
  c->set_kind(ferry::v1::Column::KIND_TEXT);
  c->set_value(std::string(bytes, 'b'));
  return e.SerializeAsString();
}

void ExpectNamesTheRow(const std::string& message) {
  EXPECT_NE(message.find(R"(UPDATE of "public"."docs" at commit LSN 0/1A2B3C4 (event 3 of its transaction), key {"id":"7"})"),
            std::string::npos) << message;
}

TEST(TopicSettingsTest, AnOrderedTopicIsCreatedWithExactlyItsPartitionsAndAnotherCountIsRefused) {
  auto broker = testing::StartBroker({.brokers = 1, .partitions = 8});
  ASSERT_NE(broker, nullptr);
  Deliveries deliveries;
  auto producer = EventProducer::Create(KafkaOptions{broker->bootstrap(), {}}, deliveries.Callback(), 5000);
  ASSERT_TRUE(producer.ok());
  const TopicSpec ordered{1, /*exact_partitions=*/true};
  ASSERT_TRUE((*producer)->EnsureTopic("acc.changes", ordered, 5000).ok());
  EXPECT_EQ(testing::Topics(broker->bootstrap())["acc.changes"], 1);
  ASSERT_TRUE((*producer)->Produce("acc.changes", "k", "v", 1).ok());

  // A topic left with the dev broker's 8 partitions (or a foreign tool's).
  ASSERT_TRUE((*producer)->EnsureTopic("old.changes", 5000).ok());
  ASSERT_EQ(testing::Topics(broker->bootstrap())["old.changes"], 8);
  Status refused = (*producer)->EnsureTopic("old.changes", ordered, 5000);
  EXPECT_EQ(refused.code(), Status::Code::kInvalidArgument) << refused.ToString();
  EXPECT_NE(refused.message().find("topic old.changes has 8 partitions, and it needs exactly 1"), std::string::npos)
      << refused.ToString();
  auto fresh = EventProducer::Create(KafkaOptions{broker->bootstrap(), {}}, deliveries.Callback(), 5000);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ((*fresh)->EnsureTopic("old.changes", ordered, 5000).code(), Status::Code::kInvalidArgument);

  // --topic-partitions cannot contradict a topic that needs exactly one.
  EventProducerOptions three;
  three.topic_partitions = 3;
  auto other = EventProducer::Create(KafkaOptions{broker->bootstrap(), {}}, deliveries.Callback(), three);
  ASSERT_TRUE(other.ok());
  Status contradicted = (*other)->EnsureTopic("new.changes", ordered, 5000);
  EXPECT_EQ(contradicted.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(contradicted.message().find("--topic-partitions 3"), std::string::npos) << contradicted.ToString();
  EXPECT_FALSE(testing::Topics(broker->bootstrap()).contains("new.changes"));
}

// A row larger than Kafka takes used to be a bare "an event of N bytes for
// topic T": capture stopped without saying which row.
TEST(TopicSettingsTest, AnEventTooLargeToSendNamesItsRowAndTheSetting) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  Deliveries deliveries;
  auto producer = EventProducer::Create(KafkaOptions{broker->bootstrap(), {{"message.max.bytes", "100000"}}},
                                        deliveries.Callback(), 5000);
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  Status st = (*producer)->Produce("acc.docs", R"({"id":"7"})", BigEvent(200000), 1);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
  ExpectNamesTheRow(st.message());
  EXPECT_NE(st.message().find("message.max.bytes"), std::string::npos) << st.message();
  EXPECT_TRUE((*producer)->Produce("acc.docs", R"({"id":"8"})", BigEvent(1000), 2).ok()) << "nothing else stops";
  EXPECT_TRUE((*producer)->Flush(5000).ok());
}

// Kafka refuses a record above the topic's max.message.bytes with
// MESSAGE_TOO_LARGE; with the gapless guarantee that stops the producer. The
// error must name the row and the setting, not only the gap.
TEST(TopicSettingsTest, AnEventTheBrokerRefusesAsTooLargeNamesItsRowAndTheSetting) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  Deliveries deliveries;
  auto producer = EventProducer::Create(KafkaOptions{broker->bootstrap(), testing::FastProducerProperties()},
                                        deliveries.Callback(), 5000);
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE((*producer)->EnsureTopic("acc.docs", 5000).ok());
  rd_kafka_mock_push_request_errors(broker->mock(), kProduceApiKey, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  ASSERT_TRUE((*producer)->Produce("acc.docs", R"({"id":"7"})", BigEvent(5000), 1).ok());
  (*producer)->Flush(5000).PermitUncheckedError();
  ASSERT_EQ(deliveries.reports.size(), 1u);
  const Status& delivered = deliveries.reports[0].status;
  EXPECT_EQ(delivered.code(), Status::Code::kInvalidArgument) << delivered.ToString();
  ExpectNamesTheRow(delivered.message());
  EXPECT_NE(delivered.message().find("max.message.bytes"), std::string::npos) << delivered.message();
  Status fatal = (*producer)->FatalError();
  ExpectNamesTheRow(fatal.message());
}

// Without the dev broker's topic service a cluster is taken for Kafka: the
// topic is asked for with CreateTopics (with the settings capture needs), never
// left to auto-creation. librdkafka's bare mock does not answer CreateTopics:
// the producer says so in time, and nothing was auto-created.
TEST(TopicSettingsTest, WithoutTheTopicServiceTopicsAreCreatedWithCreateTopicsNotAutoCreation) {
  auto conf = MakeConf(KafkaOptions{}, {{"log_level", "4"}});
  ASSERT_TRUE(conf.ok());
  auto host = NewClient(RD_KAFKA_PRODUCER, std::move(conf).value());
  ASSERT_TRUE(host.ok());
  rd_kafka_mock_cluster_t* mock = rd_kafka_mock_cluster_new(host->get(), 1);
  ASSERT_NE(mock, nullptr);
  {
    Deliveries deliveries;
    auto producer = EventProducer::Create(KafkaOptions{rd_kafka_mock_cluster_bootstraps(mock), {}},
                                          deliveries.Callback(), 5000);
    ASSERT_TRUE(producer.ok());
    Status st = (*producer)->EnsureTopic("plain", 2000);
    EXPECT_EQ(st.code(), Status::Code::kUnavailable) << st.ToString();
    EXPECT_NE(st.message().find("creating topic plain"), std::string::npos) << st.ToString();
    EXPECT_FALSE(testing::Topics(rd_kafka_mock_cluster_bootstraps(mock)).contains("plain"));
  }
  rd_kafka_mock_cluster_destroy(mock);
}

}  // namespace
}  // namespace ferry::transport
