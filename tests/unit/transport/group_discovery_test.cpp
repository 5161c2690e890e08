// What the dev broker answers when asked which consumer groups read a topic.
#include "transport/group_discovery.h"

#include <gtest/gtest.h>

#include "tests/unit/transport/kafka_test_util.h"

namespace ferry::transport {
namespace {

// librdkafka 2.0.2's mock cluster has no ListGroups/DescribeGroups: the
// finder must say "cannot tell" (nullopt), at once, rather than fail or hang,
// so that flow control falls back to the group it was given.
TEST(GroupDiscoveryTest, DevBrokerCannotListGroupsAndSaysSoAtOnce) {
#if defined(__SANITIZE_ADDRESS__)
  // librdkafka 2.0.2 leaks the refused request's error (in its own threads):
  // capture never asks the dev broker (FlowControlOptions::can_list_groups).
  GTEST_SKIP() << "librdkafka 2.0.2 leaks on a refused ListConsumerGroups; shown in the release build";
#endif
  auto broker = testing::StartBroker();
  ASSERT_NE(broker, nullptr);
  testing::Deliveries deliveries;
  auto producer = EventProducer::Create(KafkaOptions{broker->bootstrap(), {}}, deliveries.Callback(), 5000);
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE((*producer)->Produce("ferry.disc.t", "k", "v", 1).ok());
  ASSERT_TRUE((*producer)->Flush(5000).ok());
  auto consumer = EventConsumer::Create(KafkaOptions{broker->bootstrap(), testing::FastConsumerProperties()},
                                        "apply", "^ferry\\.disc\\..*", nullptr);
  ASSERT_TRUE(consumer.ok());
  testing::PollUntil(**consumer, 1, 15000);
  ASSERT_FALSE((*consumer)->Assignment().empty());

  auto finder = ConsumerGroupFinder::Create(KafkaOptions{broker->bootstrap(), {}});
  ASSERT_TRUE(finder.ok());
  auto start = std::chrono::steady_clock::now();
  auto found = (*finder)->FindConsuming({"ferry.disc.t"}, 5000);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_FALSE(found->has_value());
  EXPECT_LT(took, std::chrono::seconds(2));
  ASSERT_TRUE((*consumer)->Close().ok());
}

}  // namespace
}  // namespace ferry::transport
