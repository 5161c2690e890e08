// --on-error stop|retry|park for whole source transactions, the reconciler
// replaying parked transactions once the target is fixed, and `ferry failures`
// / `ferry reconcile --once` with apply running and stopped. The target
// rejects rows through a CHECK constraint the source does not have. A parked
// transaction is parked whole: each of its events is a record, then its end.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

struct Cli {
  int code = -1;
  std::string out;
};

class FailuresTest : public ::testing::Test {
 protected:
  void StartPipeline(const std::string& name, const std::vector<std::string>& apply_flags) {
    auto p = Pipeline::Start(name);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    pl_ = std::move(p).value();
    pl_->source().Sql("CREATE TABLE t (id int PRIMARY KEY, v text)");
    pl_->target().Sql("CREATE TABLE t (id int PRIMARY KEY, v text CONSTRAINT no_bad CHECK (v NOT LIKE 'bad%'))");
    ASSERT_TRUE(pl_->StartApply(apply_flags));
    ASSERT_TRUE(pl_->StartCapture());
    ASSERT_TRUE(pl_->WaitCaptureStreaming()) << pl_->capture().LogTail();
  }

  std::string StateDir() const { return pl_->dir() + "/state-apply"; }

  // Runs `ferry <args>`; stdout and stderr together.
  Cli Ferry(std::vector<std::string> args) {
    static int n = 0;
    std::string log = pl_->dir() + "/cli-" + std::to_string(++n) + ".log";
    args.insert(args.begin(), FerryBinary());
    ChildProcess p;
    Cli r;
    if (!p.Start(args, log)) return r;
    r.code = p.Wait(std::chrono::milliseconds(60000));
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    r.out = ss.str();
    return r;
  }

  nlohmann::json Parked() {
    Cli r = Ferry({"failures", "list", "--json", "--state-dir", StateDir()});
    EXPECT_EQ(r.code, 0) << r.out;
    auto j = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    return j.is_array() ? j : nlohmann::json::array();
  }

  // The id of the parked event whose description contains `key`.
  static std::string IdOf(const nlohmann::json& parked, const std::string& key) {
    for (const auto& r : parked) {
      if (r["event"].get<std::string>().find(key) != std::string::npos) {
        return std::to_string(r["id"].get<uint64_t>());
      }
    }
    return "none";
  }

  bool WaitParked(size_t n) {
    for (int i = 0; i < 300; ++i) {
      if (Parked().size() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  bool WaitTarget(const std::string& sql, const std::string& want) {
    for (int i = 0; i < 600 && pl_->target().Sql(sql) != want; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return pl_->target().Sql(sql) == want;
  }

  std::unique_ptr<Pipeline> pl_;
};

TEST_F(FailuresTest, StopHaltsAtTheRejectedEventNamingItAndResumesThereAfterTheFix) {
  ASSERT_NO_FATAL_FAILURE(StartPipeline("fstop", {"--on-error", "stop"}));
  pl_->source().Sql("INSERT INTO t SELECT g, 'ok' FROM generate_series(1, 5) g");
  pl_->source().Sql("INSERT INTO t VALUES (6, 'bad')");
  pl_->source().Sql("INSERT INTO t SELECT g, 'ok' FROM generate_series(7, 10) g");

  int code = pl_->apply().Wait(std::chrono::milliseconds(60000));
  std::string log = pl_->apply().LogTail();
  ASSERT_GT(code, 0) << "exits (-1 is a timeout): " << log;
  EXPECT_NE(log.find("stopped (--on-error stop)"), std::string::npos) << log;
  EXPECT_NE(log.find("\"public\".\"t\""), std::string::npos) << "names the table: " << log;
  EXPECT_NE(log.find("{\"id\":\"6\"}"), std::string::npos) << "names the key: " << log;
  EXPECT_NE(log.find("commit LSN"), std::string::npos) << "names the LSN: " << log;
  EXPECT_NE(log.find("violates check constraint \"no_bad\""), std::string::npos) << log;
  EXPECT_EQ(pl_->target().Sql("SELECT count(*) FROM t WHERE id = 6"), "0");

  // The position did not move past it: a restart stops at it again, and after
  // the fix a restart applies it.
  ASSERT_TRUE(pl_->StartApply({"--on-error", "stop"}));
  EXPECT_GT(pl_->apply().Wait(std::chrono::milliseconds(60000)), 0) << pl_->apply().LogTail();
  EXPECT_NE(pl_->apply().LogTail().find("{\"id\":\"6\"}"), std::string::npos) << pl_->apply().LogTail();
  pl_->target().Sql("ALTER TABLE t DROP CONSTRAINT no_bad");
  ASSERT_TRUE(pl_->StartApply());
  EXPECT_TRUE(pl_->WaitConverged("t", "id", seconds(60))) << pl_->Diff("t", "id") << pl_->apply().LogTail();
}

// A large transaction streams into a target transaction of its own, its
// inserts through one open COPY: the refused row still stops apply naming it,
// and none of the transaction is applied.
TEST_F(FailuresTest, StopOnALargeTransactionNamesTheRejectedRowAndAppliesNoneOfIt) {
  ASSERT_NO_FATAL_FAILURE(
      StartPipeline("fstoplarge", {"--on-error", "stop", "--transaction-buffer-bytes", "32768"}));
  pl_->source().Sql("INSERT INTO t SELECT g, CASE g WHEN 20000 THEN 'bad' ELSE 'ok ' || g END "
                    "FROM generate_series(1, 30000) g");
  int code = pl_->apply().Wait(std::chrono::milliseconds(120000));
  std::string log = pl_->apply().LogTail();
  ASSERT_GT(code, 0) << "exits (-1 is a timeout): " << log;
  EXPECT_NE(log.find("stopped (--on-error stop)"), std::string::npos) << log;
  EXPECT_NE(log.find("violates check constraint \"no_bad\""), std::string::npos) << log;
  EXPECT_NE(log.find("Failing row contains (20000, bad)"), std::string::npos) << "names the row: " << log;
  EXPECT_NE(log.find("applying it as it arrives"), std::string::npos) << "it was streamed: " << log;
  EXPECT_EQ(pl_->target().Sql("SELECT count(*) FROM t"), "0");
}

TEST_F(FailuresTest, RetrySucceedsWhenTheCauseIsFixedWithinTheRetries) {
  ASSERT_NO_FATAL_FAILURE(StartPipeline("fretry", {"--on-error", "retry", "--retry-max", "8"}));
  pl_->source().Sql("INSERT INTO t VALUES (1, 'bad'), (2, 'ok')");
  for (int i = 0; i < 600 && pl_->apply().LogTail().find("retry 2 of 8") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_NE(pl_->apply().LogTail().find("retry 2 of 8"), std::string::npos) << pl_->apply().LogTail();
  pl_->target().Sql("ALTER TABLE t DROP CONSTRAINT no_bad");
  EXPECT_TRUE(pl_->WaitConverged("t", "id", seconds(90))) << pl_->Diff("t", "id") << pl_->apply().LogTail();
  EXPECT_TRUE(pl_->apply().running()) << pl_->apply().LogTail();
  EXPECT_EQ(Parked().size(), 0u) << "nothing parked";
}

TEST_F(FailuresTest, RetryParksWhenRetriesRunOutWithParkAfterRetries) {
  ASSERT_NO_FATAL_FAILURE(StartPipeline(
      "fretrypark", {"--on-error", "retry", "--retry-max", "1", "--park-after-retries"}));
  pl_->source().Sql("INSERT INTO t VALUES (1, 'bad'), (2, 'ok')");  // one transaction
  pl_->source().Sql("INSERT INTO t VALUES (3, 'ok')");
  ASSERT_TRUE(WaitParked(3)) << "its two events and its end: " << pl_->apply().LogTail();
  auto parked = Parked();
  EXPECT_EQ(parked[0]["attempts"], 2) << parked.dump();
  EXPECT_NE(parked[0]["error"].get<std::string>().find("no_bad"), std::string::npos) << parked.dump();
  EXPECT_TRUE(WaitTarget("SELECT string_agg(id::text, ',') FROM t", "3"))
      << "nothing of the parked transaction, the next one applied: " << pl_->apply().LogTail();
  EXPECT_TRUE(pl_->apply().running()) << pl_->apply().LogTail();
}

TEST_F(FailuresTest, ParkHoldsLaterTransactionsOfItsRowsAndTheReconcilerReplaysThemAfterTheFix) {
  ASSERT_NO_FATAL_FAILURE(StartPipeline("fpark", {"--on-error", "park"}));
  pl_->source().Sql("INSERT INTO t SELECT g, 'ok' FROM generate_series(1, 10) g");
  pl_->source().Sql("UPDATE t SET v = 'bad' WHERE id = 5");
  pl_->source().Sql("UPDATE t SET v = 'later' WHERE id = 5");  // acceptable, but after the bad one
  pl_->source().Sql("UPDATE t SET v = 'six' WHERE id = 6");

  // Other rows are not held up; row 5 keeps its last applied value.
  ASSERT_TRUE(WaitTarget("SELECT v FROM t WHERE id = 6", "six")) << pl_->apply().LogTail();
  EXPECT_EQ(pl_->target().Sql("SELECT v FROM t WHERE id = 5"), "ok");
  ASSERT_TRUE(WaitParked(4)) << "two transactions, each an event and its end: " << pl_->apply().LogTail();
  auto parked = Parked();  // read while apply holds the store
  EXPECT_NE(parked[0]["error"].get<std::string>().find("no_bad"), std::string::npos) << parked.dump();
  EXPECT_NE(parked[0]["event"].get<std::string>().find("{\"id\":\"5\"}"), std::string::npos);
  EXPECT_NE(parked[2]["error"].get<std::string>().find("held behind"), std::string::npos) << parked.dump();
  EXPECT_LT(parked[0]["id"], parked[2]["id"]);

  Cli show = Ferry({"failures", "show", std::to_string(parked[2]["id"].get<uint64_t>()), "--state-dir", StateDir()});
  EXPECT_EQ(show.code, 0) << show.out;
  EXPECT_NE(show.out.find("later"), std::string::npos) << "shows the event: " << show.out;

  // kill -9 and restart: the parked transactions are neither lost nor parked
  // twice, and the row is still held. A transaction that changes row 5 and
  // row 7 is held whole; one that changes row 8 alone goes through.
  pl_->apply().Kill();
  ASSERT_TRUE(pl_->StartApply({"--on-error", "park"}));
  pl_->source().Sql("UPDATE t SET v = 'seven' WHERE id = 7; UPDATE t SET v = 'after restart' WHERE id = 5");
  pl_->source().Sql("UPDATE t SET v = 'eight' WHERE id = 8");
  ASSERT_TRUE(WaitTarget("SELECT v FROM t WHERE id = 8", "eight")) << pl_->apply().LogTail();
  EXPECT_TRUE(WaitParked(7)) << "the transaction of rows 7 and 5 waits behind the two: " << Parked().dump();
  EXPECT_EQ(pl_->target().Sql("SELECT v FROM t WHERE id = 5"), "ok");
  EXPECT_EQ(pl_->target().Sql("SELECT v FROM t WHERE id = 7"), "ok") << "nothing of a held transaction";

  // Fix the target: the reconciler inside the running apply replays the three, in order.
  pl_->target().Sql("ALTER TABLE t DROP CONSTRAINT no_bad");
  EXPECT_TRUE(pl_->WaitConverged("t", "id", seconds(90))) << pl_->Diff("t", "id") << pl_->apply().LogTail();
  EXPECT_TRUE(WaitParked(0)) << pl_->apply().LogTail();
  // The row is released: its new transactions apply directly again.
  pl_->source().Sql("UPDATE t SET v = 'after release' WHERE id = 5");
  EXPECT_TRUE(WaitTarget("SELECT v FROM t WHERE id = 5", "after release")) << pl_->apply().LogTail();
}

TEST_F(FailuresTest, FailuresCommandsAndReconcileOnceWithApplyRunningAndStopped) {
  ASSERT_NO_FATAL_FAILURE(StartPipeline("fcmd", {"--on-error", "park"}));
  for (const char* row : {"(1, 'bad1')", "(2, 'bad2')", "(3, 'ok')", "(4, 'bad4')"}) {
    pl_->source().Sql(std::string("INSERT INTO t VALUES ") + row);  // a transaction each
  }
  ASSERT_TRUE(WaitParked(6)) << pl_->apply().LogTail();
  auto parked = Parked();
  std::string id1 = IdOf(parked, "{\"id\":\"1\"}");
  std::string id2 = IdOf(parked, "{\"id\":\"2\"}");

  // Apply running: the requests go to it.
  Cli retry = Ferry({"failures", "retry", id1, "--state-dir", StateDir()});
  EXPECT_NE(retry.code, 0) << "the target still rejects it: " << retry.out;
  EXPECT_NE(retry.out.find("no_bad"), std::string::npos) << retry.out;
  Cli drop = Ferry({"failures", "drop", id2, "--state-dir", StateDir()});
  EXPECT_EQ(drop.code, 0) << drop.out;
  parked = Parked();
  ASSERT_EQ(parked.size(), 4u) << "row 2's transaction dropped whole: " << parked.dump();
  for (const auto& r : parked) {
    if (std::to_string(r["id"].get<uint64_t>()) == id1) {
      EXPECT_GE(r["attempts"].get<int>(), 2) << "the failed retry counted";
    }
  }

  // Apply stopped: the commands open the store themselves.
  pl_->apply().Signal(SIGTERM);
  ASSERT_EQ(pl_->apply().Wait(std::chrono::milliseconds(30000)), 0) << pl_->apply().LogTail();
  EXPECT_EQ(Parked().size(), 4u);
  pl_->target().Sql("ALTER TABLE t DROP CONSTRAINT no_bad");
  Cli retried = Ferry({"failures", "retry", id1, "--state-dir", StateDir(), "--target", pl_->target().conninfo()});
  EXPECT_EQ(retried.code, 0) << retried.out;
  Cli once = Ferry({"reconcile", "--once", "--state-dir", StateDir(), "--target", pl_->target().conninfo()});
  EXPECT_EQ(once.code, 0) << once.out;
  EXPECT_NE(once.out.find("replayed 1"), std::string::npos) << once.out;
  EXPECT_EQ(Parked().size(), 0u);
  // Row 2 was dropped by the operator: it is the only difference.
  EXPECT_EQ(pl_->target().Sql("SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM t"), "1=bad1,3=ok,4=bad4");
}

}  // namespace
}  // namespace ferry::testing
