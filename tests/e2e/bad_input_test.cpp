// Bad input gets a clear, actionable error and loses nothing: a source without
// wal_level=logical, a target table that does not exist, garbage on a topic
// (parked with its bytes and the decode error, or stopped at under --on-error stop).
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/pipeline.h"
#include "transport/event_producer.h"
#include "transport/naming.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

TEST(BadInputTest, CaptureRefusesSourceWithoutLogicalWalLevel) {
  auto target = PgCluster::Start("notlogical", /*logical=*/false);
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  TempDir dir("badwal");
  ChildProcess capture;
  ASSERT_TRUE(capture.Start({FerryBinary(), "capture", "--source", (*target)->conninfo(), "--brokers",
                             "127.0.0.1:1", "--flow-control", "off", "--state-dir", dir.path()},
                            dir.path() + "/capture.log"));
  // The broker is unreachable too: the source check comes first and is not hidden behind it.
  int code = capture.Wait(std::chrono::milliseconds(30000));
  std::string log = capture.LogTail();
  EXPECT_EQ(code, 2) << "a configuration error: " << log;
  EXPECT_NE(log.find("wal_level=replica"), std::string::npos) << log;
  EXPECT_NE(log.find("wal_level = logical"), std::string::npos) << "the message says the fix: " << log;
}

TEST(BadInputTest, MissingTargetTableStopsApplyNamingItAndLosesNothing) {
  auto p = Pipeline::Start("notable");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.source().Sql("CREATE TABLE only_on_source (id int PRIMARY KEY, v text)");
  ASSERT_TRUE(pl.StartApply());
  ASSERT_TRUE(pl.StartCapture());
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();
  pl.source().Sql("INSERT INTO only_on_source SELECT g, 'v' || g FROM generate_series(1, 100) g");

  int code = pl.apply().Wait(std::chrono::milliseconds(60000));
  std::string log = pl.apply().LogTail();
  EXPECT_NE(code, 0) << log;
  EXPECT_NE(log.find("only_on_source"), std::string::npos) << log;
  EXPECT_NE(log.find("does not exist"), std::string::npos) << log;

  // Fix the cause and restart: every row arrives.
  pl.target().Sql("CREATE TABLE only_on_source (id int PRIMARY KEY, v text)");
  ASSERT_TRUE(pl.StartApply());
  EXPECT_TRUE(pl.WaitConverged("only_on_source", "id", seconds(60)))
      << pl.Diff("only_on_source", "id") << pl.apply().LogTail();
  EXPECT_EQ(pl.target().Sql("SELECT count(*) FROM only_on_source"), "100");
}

void ProduceGarbage(Pipeline& pl) {
  transport::KafkaOptions kafka{pl.brokers(), {}};
  Status delivered = Status::Internal("no delivery report");
  transport::EventProducerOptions one_partition;
  one_partition.topic_partitions = 1;  // as capture creates it
  auto producer = transport::EventProducer::Create(
      kafka, [&](const transport::Delivery& d) { delivered = d.status; }, one_partition);
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  ASSERT_TRUE((*producer)
                  ->Produce(transport::ChangesTopic("ferry"), "k", std::string("\xff\x00garbage", 9), 1,
                            /*partition=*/0)
                  .ok());
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  ASSERT_TRUE(delivered.ok()) << delivered.ToString();
}

TEST(BadInputTest, GarbageOnATopicIsParkedWithItsDecodeErrorAndApplyGoesOn) {
  auto p = Pipeline::Start("garbage");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  ASSERT_NO_FATAL_FAILURE(ProduceGarbage(pl));
  pl.CreateOnBoth("CREATE TABLE t (id int PRIMARY KEY, v text)");
  ASSERT_TRUE(pl.StartApply());
  ASSERT_TRUE(pl.StartCapture());
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();
  pl.source().Sql("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g");
  EXPECT_TRUE(pl.WaitConverged("t", "id", seconds(60))) << pl.Diff("t", "id") << pl.apply().LogTail();
  EXPECT_TRUE(pl.apply().running()) << pl.apply().LogTail();

  ChildProcess list;
  const std::string out = pl.dir() + "/failures.log";
  ASSERT_TRUE(list.Start({FerryBinary(), "failures", "show", "1", "--state-dir", pl.dir() + "/state-apply"}, out));
  EXPECT_EQ(list.Wait(std::chrono::milliseconds(30000)), 0) << list.LogTail();
  std::string shown = list.LogTail();
  EXPECT_NE(shown.find("not a ferry ChangeEvent"), std::string::npos) << shown;
  EXPECT_NE(shown.find("ferry.changes"), std::string::npos) << shown;
  EXPECT_NE(shown.find("\\xff\\x00garbage"), std::string::npos) << "the raw bytes are kept: " << shown;
}

TEST(BadInputTest, GarbageOnATopicStopsApplyUnderOnErrorStop) {
  auto p = Pipeline::Start("garbagestop");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  ASSERT_NO_FATAL_FAILURE(ProduceGarbage(pl));
  ASSERT_TRUE(pl.StartApply({"--on-error", "stop"}));
  int code = pl.apply().Wait(std::chrono::milliseconds(60000));
  std::string log = pl.apply().LogTail();
  EXPECT_EQ(code, 1) << "a decode failure is an error exit, not a crash: " << log;
  EXPECT_NE(log.find("not a ferry ChangeEvent"), std::string::npos) << log;
  EXPECT_NE(log.find("ferry.changes"), std::string::npos) << log;
}

}  // namespace
}  // namespace ferry::testing
