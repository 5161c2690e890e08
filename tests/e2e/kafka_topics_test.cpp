// Topics and Kafka's size limit with the processes apart (issue 12, "Real
// Kafka"): capture creates its topics with the partitions asked for, and a row
// larger than Kafka takes stops capture with an error naming the row and the
// setting, confirming nothing past it, so that it resumes there once raised.
#include <gtest/gtest.h>

#include "tests/support/pipeline.h"
#include "tests/unit/transport/kafka_test_util.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

TEST(KafkaTopicsE2eTest, ARowTooLargeForKafkaStopsCaptureNamingItAndResumesThereOnceRaised) {
  auto started = Pipeline::Start("topics");
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  auto& pl = **started;
  pl.CreateOnBoth("CREATE TABLE docs (id bigint PRIMARY KEY, body text)");
  ASSERT_TRUE(pl.StartApply());
  std::vector<std::string> small{"--snapshot", "never", "--topic-partitions", "1",
                                 "--kafka-property", "message.max.bytes=100000"};
  ASSERT_TRUE(pl.StartCapture(small));
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();
  pl.source().Sql("INSERT INTO docs VALUES (1, 'small')");
  ASSERT_TRUE(pl.WaitConverged("docs", "id", seconds(60))) << pl.capture().LogTail();
  EXPECT_EQ(transport::testing::Topics(pl.brokers())["ferry.changes"], 1) << "--topic-partitions";

  // ~256 KB of incompressible-enough text: more than the 100,000 bytes allowed.
  pl.source().Sql("INSERT INTO docs SELECT 2, string_agg(md5(g::text), '') FROM generate_series(1, 8000) g");
  EXPECT_EQ(pl.capture().Wait(std::chrono::milliseconds(60000)), 2) << pl.capture().LogTail();
  std::string log = ReadLog(pl.capture());
  EXPECT_NE(log.find(R"(INSERT of "public"."docs" at commit LSN )"), std::string::npos) << pl.capture().LogTail();
  EXPECT_NE(log.find(R"(key {"id":"2"})"), std::string::npos) << pl.capture().LogTail();
  EXPECT_NE(log.find("message.max.bytes"), std::string::npos) << pl.capture().LogTail();
  pl.source().Sql("INSERT INTO docs VALUES (3, 'after')");

  ASSERT_TRUE(pl.StartCapture({"--snapshot", "never"}));  // the limit raised (back to 64 MiB)
  EXPECT_TRUE(pl.WaitConverged("docs", "id", seconds(60))) << pl.Diff("docs", "id") << pl.capture().LogTail();
}

}  // namespace
}  // namespace ferry::testing
