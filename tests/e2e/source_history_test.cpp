// A source whose history is not the one capture stored its position on: another
// cluster behind the same conninfo, a restore to an earlier point (new
// timeline forked before capture's position), a file-level restore of the same
// timeline. Each would have new transactions at LSNs below the stored position,
// skipped silently by max(slot, stored); capture must refuse (exit 2) instead.
// A promotion after capture's position (the new timeline forked after it) is
// followed, losing nothing.
#include <gtest/gtest.h>

#include <csignal>

#include "checkpoint/position_store.h"
#include "tests/support/eventually.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class SourceHistoryTest : public ::testing::Test {
 protected:
  void StartPipeline(const std::string& name) {
    auto p = Pipeline::Start(name);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    pl_ = std::move(p).value();
    pl_->CreateOnBoth("CREATE TABLE t (id int PRIMARY KEY, v text)");
  }
  PgCluster& src() { return pl_->source(); }
  std::string DataDir() { return src().dir() + "/data"; }
  void Insert(int from, int to) {
    src().Sql("INSERT INTO t SELECT g, 'v' || g FROM generate_series(" + std::to_string(from) + ", " +
              std::to_string(to) + ") g");
  }

  // Times capture started streaming, by its log (which each run appends to).
  size_t StreamStarts() {
    std::string log = ReadWholeFile(pl_->capture().log_path());
    size_t n = 0;
    for (size_t at = log.find("streaming slot"); at != std::string::npos; at = log.find("streaming slot", at + 1)) ++n;
    return n;
  }

  // Capture streams (after its initial copy, if any), confirms everything
  // written so far, and stops cleanly.
  void CaptureEverythingThenStop() {
    const size_t starts = StreamStarts();
    ASSERT_TRUE(pl_->StartCapture());
    ASSERT_TRUE(Eventually([&] { return StreamStarts() > starts; }, seconds(60))) << pl_->capture().LogTail();
    const std::string wal = src().Sql("SELECT pg_current_wal_lsn()");
    ASSERT_TRUE(Eventually(
        [&] {
          return src().Sql("SELECT confirmed_flush_lsn >= '" + wal +
                           "' FROM pg_replication_slots WHERE slot_name = 'ferry'") == "t";
        },
        seconds(30)))
        << pl_->capture().LogTail();
    pl_->capture().Signal(SIGTERM);
    ASSERT_EQ(pl_->capture().Wait(milliseconds(30000)), 0) << pl_->capture().LogTail();
  }

  Lsn StoredLsn() {
    auto store = checkpoint::RocksPositionStore::Open(pl_->dir() + "/state/capture");
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) return Lsn();
    auto lsn = (*store)->GetLsn("slot/ferry");
    return lsn.ok() ? lsn->value_or(Lsn()) : Lsn();
  }
  Lsn SourceWal() { return Lsn::Parse(src().Sql("SELECT pg_current_wal_lsn()")).value(); }

  // The source comes back through archive recovery (no archive: it replays its
  // own pg_wal), which ends on a new timeline, as after PITR or a promotion.
  void RestartThroughArchiveRecovery() {
    ASSERT_EQ(RunShell("echo \"restore_command = 'false'\" >> " + DataDir() + "/postgresql.conf && touch " +
                       DataDir() + "/recovery.signal"),
              0);
    ASSERT_TRUE(src().Restart().ok());
    ASSERT_TRUE(Eventually([&] { return src().Sql("SELECT pg_is_in_recovery()") == "f"; }, seconds(30)));
    ASSERT_EQ(src().Sql("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"), "00000002");
  }

  // Capture confirms rows 1-10; the source's files are copied (slot included)
  // while it is stopped; capture confirms rows 11-2000; then the copy is put
  // back in place of the source's files (left stopped).
  void CaptureThenPutBackAnEarlierCopy() {
    Insert(1, 10);
    ASSERT_NO_FATAL_FAILURE(CaptureEverythingThenStop());
    ASSERT_TRUE(src().Stop().ok());
    ASSERT_EQ(RunShell("cp -a " + DataDir() + " " + src().dir() + "/backup"), 0);
    ASSERT_TRUE(src().Restart().ok());
    Insert(11, 2000);
    ASSERT_NO_FATAL_FAILURE(CaptureEverythingThenStop());
    ASSERT_TRUE(src().Stop().ok());
    ASSERT_EQ(RunShell("rm -rf " + DataDir() + " && mv " + src().dir() + "/backup " + DataDir()), 0);
  }

  // Capture's exit code within 30 s (-1: still running) and its log.
  std::pair<int, std::string> CaptureAgain() {
    EXPECT_TRUE(pl_->StartCapture());
    int code = pl_->capture().Wait(milliseconds(30000));
    return {code, pl_->capture().LogTail()};
  }

  std::unique_ptr<Pipeline> pl_;
};

TEST_F(SourceHistoryTest, AnotherClusterBehindTheSameConninfoIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartPipeline("hist-other"));
  Insert(1, 10);
  // Push the old cluster's WAL well past where a new cluster starts.
  for (int i = 0; i < 3; ++i) src().Sql("SELECT pg_switch_wal(); INSERT INTO t VALUES (" + std::to_string(100 + i) + ")");
  ASSERT_NO_FATAL_FAILURE(CaptureEverythingThenStop());

  // A new initdb answers the same conninfo, with a slot and publication of the same names.
  ASSERT_TRUE(src().Stop().ok());
  ASSERT_EQ(RunShell("mv " + DataDir() + " " + src().dir() + "/data-old"), 0);
  ASSERT_TRUE(src().StartAnotherCluster().ok());
  src().Sql("CREATE TABLE t (id int PRIMARY KEY, v text)");
  src().Sql("CREATE PUBLICATION ferry FOR ALL TABLES");
  src().Sql("SELECT pg_create_logical_replication_slot('ferry', 'pgoutput')");
  Insert(1000, 1010);
  ASSERT_LT(SourceWal(), StoredLsn()) << "the new cluster's transactions are below capture's position";

  auto [code, log] = CaptureAgain();
  EXPECT_EQ(code, 2) << log;
  EXPECT_NE(log.find("another PostgreSQL cluster"), std::string::npos) << log;

  // What the message says to do works: a new slot copies the new cluster's rows.
  src().Sql("SELECT pg_drop_replication_slot('ferry')");
  ASSERT_TRUE(pl_->StartApply({"--topic-prefix", "ferry2"}));
  ASSERT_TRUE(pl_->StartCapture({"--topic-prefix", "ferry2"}));
  EXPECT_TRUE(pl_->WaitConverged("t", "id", seconds(60))) << pl_->Diff("t", "id") << pl_->capture().LogTail();
}

TEST_F(SourceHistoryTest, RestoreToAPointBeforeCapturesPositionIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartPipeline("hist-pitr"));
  ASSERT_NO_FATAL_FAILURE(CaptureThenPutBackAnEarlierCopy());
  // PITR: archive recovery ends on timeline 2, forked from timeline 1 before capture's position.
  ASSERT_NO_FATAL_FAILURE(RestartThroughArchiveRecovery());
  Insert(5000, 5010);
  ASSERT_LT(SourceWal(), StoredLsn()) << "the restored source's transactions are below capture's position";

  auto [code, log] = CaptureAgain();
  EXPECT_EQ(code, 2) << log;
  EXPECT_NE(log.find("restored to an earlier point (PITR)"), std::string::npos) << log;
}

TEST_F(SourceHistoryTest, FileLevelRestoreOfTheSameTimelineIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartPipeline("hist-copy"));
  ASSERT_NO_FATAL_FAILURE(CaptureThenPutBackAnEarlierCopy());
  // Started as it is (a VM or disk snapshot restored): still timeline 1.
  ASSERT_TRUE(src().Restart().ok());
  Insert(5000, 5010);
  ASSERT_LT(SourceWal(), StoredLsn()) << "the restored source's transactions are below capture's position";

  auto [code, log] = CaptureAgain();
  EXPECT_EQ(code, 2) << log;
  EXPECT_NE(log.find("the source's WAL ends at"), std::string::npos) << log;
}

TEST_F(SourceHistoryTest, NewTimelineForkedAfterCapturesPositionIsFollowed) {
  ASSERT_NO_FATAL_FAILURE(StartPipeline("hist-follow"));
  ASSERT_TRUE(pl_->StartApply());
  Insert(1, 10);
  ASSERT_NO_FATAL_FAILURE(CaptureEverythingThenStop());
  ASSERT_TRUE(src().Stop().ok());
  ASSERT_NO_FATAL_FAILURE(RestartThroughArchiveRecovery());
  Insert(11, 20);

  ASSERT_TRUE(pl_->StartCapture());
  EXPECT_TRUE(pl_->WaitConverged("t", "id", seconds(60))) << pl_->Diff("t", "id") << pl_->capture().LogTail();
  EXPECT_EQ(pl_->target().Sql("SELECT count(*) FROM t"), "20");
  EXPECT_NE(ReadWholeFile(pl_->capture().log_path()).find("following it"), std::string::npos)
      << pl_->capture().LogTail();
}

}  // namespace
}  // namespace ferry::testing
