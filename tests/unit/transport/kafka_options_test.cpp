#include "transport/kafka_options.h"

#include <gtest/gtest.h>

namespace ferry::transport {
namespace {

TEST(KafkaOptionsTest, ParsesKeyValueKeepingEqualsInValue) {
  auto p = ParseKafkaProperty("sasl.jaas.config=a=b");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->first, "sasl.jaas.config");
  EXPECT_EQ(p->second, "a=b");
}

TEST(KafkaOptionsTest, RejectsMissingKeyOrEquals) {
  EXPECT_FALSE(ParseKafkaProperty("acks").ok());
  EXPECT_FALSE(ParseKafkaProperty("=1").ok());
}

}  // namespace
}  // namespace ferry::transport
