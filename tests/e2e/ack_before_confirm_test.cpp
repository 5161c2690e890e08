// Capture's central promise: the slot's confirmed LSN never moves past a commit
// whose events Kafka has not acknowledged. With the broker down, nothing new is
// confirmed; capture killed then, broker back, capture restarted: every row
// arrives.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <thread>

#include "common/lsn.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

Lsn SqlLsn(const PgCluster& c, const std::string& sql) {
  auto l = Lsn::Parse(c.Sql(sql));
  EXPECT_TRUE(l.ok()) << sql;
  return l.ok() ? *l : Lsn();
}

TEST(AckBeforeConfirmTest, SlotNeverConfirmsPastUnacknowledgedEvents) {
  auto p = Pipeline::Start("ack", /*in_process_broker=*/true);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.CreateOnBoth("CREATE TABLE t (id int PRIMARY KEY, v text)");
  ASSERT_TRUE(pl.StartApply());
  ASSERT_TRUE(pl.StartCapture());
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();
  pl.source().Sql("INSERT INTO t SELECT g, 'before' FROM generate_series(1, 100) g");
  ASSERT_TRUE(pl.WaitConverged("t", "id", seconds(60))) << pl.Diff("t", "id") << pl.capture().LogTail();

  rd_kafka_mock_broker_set_down(pl.broker().mock(), 1);
  // The first transaction while Kafka is down, with the WAL position just
  // before its commit record: its commit ends after that point.
  auto conn = pl.source().Connect();
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  ASSERT_TRUE(conn->Exec("BEGIN").ok());
  ASSERT_TRUE(conn->Exec("INSERT INTO t SELECT g, 'while down' FROM generate_series(1000, 1999) g").ok());
  auto before_commit = conn->QueryScalar("SELECT pg_current_wal_insert_lsn()");
  ASSERT_TRUE(before_commit.ok());
  ASSERT_TRUE(conn->Exec("COMMIT").ok());
  Lsn first_commit_before = *Lsn::Parse(*before_commit);
  for (int i = 1; i < 5; ++i) {
    pl.source().Sql("INSERT INTO t SELECT g, 'while down' FROM generate_series(" + std::to_string(1000 + i * 1000) +
                    ", " + std::to_string(1999 + i * 1000) + ") g");
  }
  // Capture has read these commits (keepalives and status updates flow) but Kafka
  // took none of them: the slot must not pass the first one's commit. (While
  // capture waits for nothing, a keepalive may move it into that transaction's
  // changes, before its commit: decoding sends every transaction committed
  // after the confirmed LSN whole, so that loses nothing.)
  for (int i = 0; i < 30; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Lsn confirmed = SqlLsn(pl.source(), "SELECT confirmed_flush_lsn FROM pg_replication_slots");
    ASSERT_LE(confirmed, first_commit_before) << "confirmed " << confirmed.ToString()
                                              << " past an unacknowledged commit";
  }
  pl.capture().Kill();
  rd_kafka_mock_broker_set_up(pl.broker().mock(), 1);
  ASSERT_TRUE(pl.StartCapture());
  EXPECT_TRUE(pl.WaitConverged("t", "id", seconds(120)))
      << pl.Diff("t", "id") << "\ncapture log:\n" << pl.capture().LogTail() << "\napply log:\n"
      << pl.apply().LogTail();
  EXPECT_EQ(pl.target().Sql("SELECT count(*) FROM t"), "5100");
}

}  // namespace
}  // namespace ferry::testing
