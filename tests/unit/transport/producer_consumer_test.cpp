// EventProducer -> DevBroker -> EventConsumer over the real Kafka protocol.
#include <gtest/gtest.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/unit/transport/kafka_test_util.h"
#include "transport/naming.h"

namespace ferry::transport {
namespace {

using testing::Deliveries;

TEST(EventProducerTest, TenThousandKeyedMessagesArriveInKeyOrder) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  KafkaOptions kafka{broker->bootstrap(), testing::FastProducerProperties()};
  Deliveries deliveries;
  auto producer = EventProducer::Create(kafka, deliveries.Callback(), 5000);
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  const std::string topic = TopicFor("ferry", "public", "orders");

  constexpr int kMessages = 10000;
  constexpr int kKeys = 100;
  for (int i = 0; i < kMessages; ++i) {
    std::string key = EncodeRowKey({{"id", std::to_string(i % kKeys)}});
    ASSERT_TRUE((*producer)->Produce(topic, key, std::to_string(i), i).ok());
  }
  ASSERT_TRUE((*producer)->Flush(20000).ok());
  EXPECT_EQ((*producer)->InFlight(), 0);
  ASSERT_EQ(deliveries.reports.size(), size_t{kMessages});
  EXPECT_EQ(deliveries.failed(), 0u);
  std::set<uint64_t> tokens;
  std::map<std::string, int32_t> partition_of_key;
  for (const Delivery& d : deliveries.reports) {
    tokens.insert(d.token);
    EXPECT_GE(d.offset, 0);
    EXPECT_GE(d.partition, 0);
    EXPECT_LT(d.partition, 8);
  }
  EXPECT_EQ(tokens.size(), size_t{kMessages});

  // The topic came into being with the dev broker's 8 partitions.
  EXPECT_EQ(testing::Topics(broker->bootstrap())[topic], 8);

  KafkaOptions consumer_kafka{broker->bootstrap(), testing::FastConsumerProperties()};
  auto consumer =
      EventConsumer::Create(consumer_kafka, "apply", "^ferry\\.public\\..*",
                            [](const TopicPartition&) -> Result<std::optional<int64_t>> {
                              return std::optional<int64_t>();
                            });
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  Status error;
  auto messages = testing::PollUntil(**consumer, kMessages, 30000, &error);
  ASSERT_TRUE(error.ok()) << error.ToString();
  ASSERT_EQ(messages.size(), size_t{kMessages});

  std::map<std::string, int> last_value;   // per key
  std::map<int32_t, int64_t> last_offset;  // per partition
  std::set<int32_t> partitions_used;
  for (const ConsumedMessage& m : messages) {
    EXPECT_EQ(m.tp.topic, topic);
    int value = std::stoi(m.value);
    auto [it, fresh] = last_value.try_emplace(m.key, value);
    if (!fresh) {
      EXPECT_GT(value, it->second) << "key " << m.key << " out of order";
      it->second = value;
    }
    auto [pit, inserted] = partition_of_key.try_emplace(m.key, m.tp.partition);
    EXPECT_EQ(pit->second, m.tp.partition) << "key " << m.key << " in two partitions";
    if (last_offset.contains(m.tp.partition)) {
      EXPECT_GT(m.offset, last_offset[m.tp.partition]);
    }
    last_offset[m.tp.partition] = m.offset;
    partitions_used.insert(m.tp.partition);
  }
  EXPECT_EQ(last_value.size(), size_t{kKeys});
  EXPECT_EQ(partitions_used.size(), 8u);
  EXPECT_EQ((*consumer)->Assignment().size(), 8u);
  EXPECT_TRUE((*consumer)->Close().ok());
}

// A row with TOASTed values easily passes librdkafka's 1 MB default.
TEST(EventProducerTest, EventsOfSeveralMegabytesArriveWhole) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  KafkaOptions kafka{broker->bootstrap(), testing::FastProducerProperties()};
  Deliveries deliveries;
  auto producer = EventProducer::Create(kafka, deliveries.Callback(), 5000);
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  const std::string topic = TopicFor("ferry", "public", "docs");
  std::string big(3 << 20, 'x');
  big[12345] = 'y';
  ASSERT_TRUE((*producer)->Produce(topic, "k", big, 1).ok());
  ASSERT_TRUE((*producer)->Flush(20000).ok());
  ASSERT_EQ(deliveries.failed(), 0u);

  KafkaOptions consumer_kafka{broker->bootstrap(), testing::FastConsumerProperties()};
  auto consumer = EventConsumer::Create(consumer_kafka, "apply", "^ferry\\.public\\..*",
                                        [](const TopicPartition&) -> Result<std::optional<int64_t>> {
                                          return std::optional<int64_t>();
                                        });
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  Status error;
  auto messages = testing::PollUntil(**consumer, 1, 30000, &error);
  ASSERT_TRUE(error.ok()) << error.ToString();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_TRUE(messages[0].value == big);

  // Past the producer's limit: a clear error naming the knob, not a crash.
  std::string huge((64 << 20) + 1, 'z');
  Status st = (*producer)->Produce(topic, "k", huge, 2);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("message.max.bytes"), std::string::npos) << st.ToString();
}

// The dev broker keeps about 5 MiB per partition, counted as stored, so
// compressed, bytes: ~8 MiB of repetitive events (change events repeat
// column names and types) must all stay when the producer compresses.
TEST(EventProducerTest, CompressesSoTheDevBrokerKeepsMoreEvents) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = "ferry.compress.t";
  Deliveries deliveries;
  EventProducerOptions options;
  options.topic_partitions = 1;
  auto producer = EventProducer::Create(KafkaOptions{broker->bootstrap(), {}}, deliveries.Callback(), options);
  ASSERT_TRUE(producer.ok());
  std::string event;
  for (int i = 0; event.size() < 100 * 1024; ++i) {
    event += R"({"name":"id","type_oid":20,"type_name":"int8","value":")" + std::to_string(i) + R"("})";
  }
  for (int i = 0; i < 80; ++i) ASSERT_TRUE((*producer)->Produce(topic, "k", event, i).ok());
  ASSERT_TRUE((*producer)->Flush(20000).ok());
  auto conf = MakeConf(KafkaOptions{broker->bootstrap(), {}}, {});
  auto rk = NewClient(RD_KAFKA_PRODUCER, std::move(conf).value());
  auto w = QueryWatermarks(rk->get(), {topic, 0}, 5000);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->high, 80);
  EXPECT_EQ(w->low, 0) << "evicted: the producer did not compress";
  auto read = testing::ReadAll(broker->bootstrap(), topic);
  ASSERT_EQ(read.size(), 80u);
  EXPECT_EQ(read.back().value, event);
}

TEST(EventProducerTest, CreateFailsFastWhenNoBrokerAnswers) {
  Deliveries deliveries;
  auto producer =
      EventProducer::Create(KafkaOptions{"127.0.0.1:1", {}}, deliveries.Callback(), 300);
  ASSERT_FALSE(producer.ok());
  EXPECT_TRUE(producer.status().IsRetriable()) << producer.status().ToString();
  EXPECT_NE(producer.status().message().find("127.0.0.1:1"), std::string::npos);
}

TEST(EventProducerTest, BadPropertyIsInvalidArgument) {
  Deliveries deliveries;
  auto producer = EventProducer::Create(KafkaOptions{"127.0.0.1:1", {{"no.such.property", "1"}}},
                                        deliveries.Callback(), 300);
  ASSERT_FALSE(producer.ok());
  EXPECT_EQ(producer.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(producer.status().message().find("no.such.property"), std::string::npos);
}

// Sends what spdlog logs (debug and up) to a string while it lives.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    auto logger = std::make_shared<spdlog::logger>("producer-test", sink);
    logger->set_pattern("%l %v");
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }
  // Every line logged at warning level.
  std::vector<std::string> Warnings() const {
    std::vector<std::string> found;
    std::istringstream lines(out_.str());
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("warning", 0) == 0) found.push_back(line);
    }
    return found;
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

// The settings a producer insists on, and its topic requests, are not worth a
// warning (a warning should ask something of the user). So a producer's life
// draws none of its own: not librdkafka's CONFWARN that
// enable.gapless.guarantee is experimental (four at every capture start),
// nor, once a topic was asked of the dev broker, its TERMINATE warning of a
// message "still in queue" at exit (`capture --snapshot only` ended every run
// with it: the request, whose delivery report nobody served).
TEST(EventProducerTest, ItsOwnSettingsAndTopicRequestsDrawNoWarning) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  std::string log;
  std::vector<std::string> warnings;
  {
    CapturedLog captured;
    Deliveries deliveries;
    auto producer = EventProducer::Create(KafkaOptions{broker->bootstrap(), testing::FastProducerProperties()},
                                          deliveries.Callback(), 5000);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    Status st = (*producer)->EnsureTopic("requested", TopicSpec{1, /*exact_partitions=*/true}, 5000);
    ASSERT_TRUE(st.ok()) << st.ToString();
    producer->reset();  // destroyed with nothing produced since
    log = captured.text();
    warnings = captured.Warnings();
  }
  EXPECT_NE(log.find("debug librdkafka"), std::string::npos) << log;  // librdkafka's CONFWARN still reaches the log
  EXPECT_TRUE(warnings.empty()) << warnings.front();
}

TEST(EventProducerTest, RefusesOverridesThatCouldLoseOrReorderEvents) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"enable.idempotence", "false"},
           {"acks", "1"},
           {"message.timeout.ms", "300000"},
           {"enable.gapless.guarantee", "false"}}) {
    Deliveries deliveries;
    auto producer = EventProducer::Create(KafkaOptions{"127.0.0.1:1", {{key, value}}},
                                          deliveries.Callback(), 300);
    ASSERT_FALSE(producer.ok()) << key;
    EXPECT_EQ(producer.status().code(), Status::Code::kInvalidArgument) << key;
    EXPECT_NE(producer.status().message().find(key + "=" + value + " is refused"), std::string::npos)
        << producer.status().message();
  }
  // The safe values themselves are accepted (the failure is then the unreachable broker).
  Deliveries deliveries;
  auto ok = EventProducer::Create(KafkaOptions{"127.0.0.1:1", {{"acks", "-1"}, {"message.timeout.ms", "0"}}},
                                  deliveries.Callback(), 300);
  ASSERT_FALSE(ok.ok());
  EXPECT_EQ(ok.status().code(), Status::Code::kUnavailable) << ok.status().ToString();
}

TEST(EventProducerTest, IllegalTopicNameIsInvalidArgument) {
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  Deliveries deliveries;
  auto producer =
      EventProducer::Create(KafkaOptions{broker->bootstrap(), {}}, deliveries.Callback(), 5000);
  ASSERT_TRUE(producer.ok());
  Status st = (*producer)->Produce("bad topic", "k", "v", 1);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
}

}  // namespace
}  // namespace ferry::transport
