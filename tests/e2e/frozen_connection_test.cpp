// Half-open connections: a server process that stops answering (SIGSTOP, as a
// NAT or VIP failover, a dead proxy or a paused host looks from ferry's side)
// must not stall a stage silently. Capture takes a silent replication stream
// for dead and reconnects; apply gives up a target connection that makes no
// progress, ends its server process so it can never commit the batch later,
// reconnects and applies everything exactly once. A stop request is honoured
// within seconds while a server is frozen or while Kafka is down.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "tests/support/eventually.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A server process stopped (SIGSTOP) until Thaw or destruction, so that the
// cluster can always be shut down after the test.
class Frozen {
 public:
  explicit Frozen(int pid) : pid_(pid) {
    if (pid_ > 0) kill(pid_, SIGSTOP);
  }
  ~Frozen() { Thaw(); }
  void Thaw() {
    if (pid_ > 0) kill(pid_, SIGCONT);
    pid_ = -1;
  }

 private:
  int pid_;
};

int Pid(const PgCluster& c, const std::string& sql) {
  std::string pid = c.Sql(sql);
  return pid.empty() ? -1 : std::stoi(pid);
}

const char kWalsender[] = "SELECT pid FROM pg_stat_replication WHERE application_name = 'ferry-capture'";
const char kApplyBackend[] = "SELECT pid FROM pg_stat_activity WHERE application_name = 'ferry-apply'";

// Seconds from `since` until `text` is in `p`'s log; -1 if not within `timeout`.
double LoggedAfter(ChildProcess& p, const std::string& text, Clock::time_point since, seconds timeout) {
  bool found = Eventually([&] { return ReadWholeFile(p.log_path()).find(text) != std::string::npos; }, timeout);
  return found ? Since(since) : -1;
}

// SIGTERM, then the seconds until the process is gone (-1: still running after 20 s).
double SecondsToStop(ChildProcess& p) {
  auto start = Clock::now();
  p.Signal(SIGTERM);
  return p.Wait(milliseconds(20000)) == -1 ? -1 : Since(start);
}

std::unique_ptr<Pipeline> StartWithTable(const std::string& name, bool in_process_broker = false) {
  auto p = Pipeline::Start(name, in_process_broker);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  if (!p.ok()) return nullptr;
  (*p)->CreateOnBoth("CREATE TABLE t (id int PRIMARY KEY, v text)");
  return std::move(p).value();
}

// Capture and apply running, rows 1..100 of t replicated (every partition seen).
void StartReplicating(Pipeline& pl, const std::vector<std::string>& capture_flags,
                      const std::vector<std::string>& apply_flags) {
  ASSERT_TRUE(pl.StartApply(apply_flags));
  ASSERT_TRUE(pl.StartCapture(capture_flags));
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();
  pl.source().Sql("INSERT INTO t SELECT g, 'first' FROM generate_series(1, 100) g");
  ASSERT_TRUE(pl.WaitConverged("t", "id", seconds(60)))
      << pl.Diff("t", "id") << pl.capture().LogTail() << pl.apply().LogTail();
}

TEST(FrozenConnectionTest, CaptureTakesAFrozenWalsenderForDeadAndResumesWhenItIsGone) {
  auto pl = StartWithTable("frozenws");
  ASSERT_NE(pl, nullptr);
  ASSERT_NO_FATAL_FAILURE(StartReplicating(*pl, {"--replication-timeout", "3s"}, {}));
  // Idle for longer than the timeout: a healthy source answers the keepalive requests.
  std::this_thread::sleep_for(seconds(4));
  ASSERT_EQ(ReadWholeFile(pl->capture().log_path()).find("taking the connection for dead"), std::string::npos)
      << pl->capture().LogTail();

  Frozen walsender(Pid(pl->source(), kWalsender));
  auto frozen_at = Clock::now();
  pl->source().Sql("INSERT INTO t SELECT g, 'while frozen' FROM generate_series(101, 200) g");
  double detected = LoggedAfter(pl->capture(), "taking the connection for dead", frozen_at, seconds(20));
  std::printf("capture took the frozen walsender for dead %.1f s after it froze (--replication-timeout 3s)\n",
              detected);
  ASSERT_GT(detected, 0) << pl->capture().LogTail();
  EXPECT_LT(detected, 6.0);
  EXPECT_TRUE(pl->capture().running()) << pl->capture().LogTail();
  // The frozen walsender holds the slot until it is gone: capture retries meanwhile.
  walsender.Thaw();
  EXPECT_TRUE(pl->WaitConverged("t", "id", seconds(60))) << pl->Diff("t", "id") << pl->capture().LogTail();

  // A stop request while the walsender is frozen.
  ASSERT_TRUE(Eventually([&] { return Pid(pl->source(), kWalsender) > 0; }, seconds(10)));
  Frozen again(Pid(pl->source(), kWalsender));
  double stop = SecondsToStop(pl->capture());
  std::printf("capture stopped %.2f s after SIGTERM with its walsender frozen\n", stop);
  ASSERT_GE(stop, 0) << pl->capture().LogTail();
  EXPECT_LT(stop, 5.0) << pl->capture().LogTail();
}

TEST(FrozenConnectionTest, ApplyGivesUpAFrozenTargetBackendAppliesEverythingOnceAndStopsWhileFrozen) {
  auto pl = StartWithTable("frozendst");
  ASSERT_NE(pl, nullptr);
  ASSERT_NO_FATAL_FAILURE(StartReplicating(*pl, {}, {"--target-stall-timeout", "3s"}));

  int old_backend = Pid(pl->target(), kApplyBackend);
  Frozen backend(old_backend);
  auto frozen_at = Clock::now();
  pl->source().Sql("INSERT INTO t SELECT g, 'while frozen' FROM generate_series(101, 200) g");
  pl->source().Sql("UPDATE t SET v = 'second' WHERE id <= 100");
  double detected = LoggedAfter(pl->apply(), "stopped answering", frozen_at, seconds(30));
  std::printf("apply gave up the frozen target backend %.1f s after it froze (--target-stall-timeout 3s)\n",
              detected);
  ASSERT_GT(detected, 0) << pl->apply().LogTail();
  EXPECT_LT(detected, 8.0);
  // Applied through a new connection while the old backend is still frozen.
  EXPECT_TRUE(pl->WaitConverged("t", "id", seconds(60))) << pl->Diff("t", "id") << pl->apply().LogTail();
  pl->source().Sql("UPDATE t SET v = 'third'");
  EXPECT_TRUE(pl->WaitConverged("t", "id", seconds(60))) << pl->Diff("t", "id") << pl->apply().LogTail();

  // Resumed, the old backend still has the abandoned batch in its socket: it
  // must die rather than commit it over the newer rows.
  backend.Thaw();
  std::string gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(old_backend);
  EXPECT_TRUE(Eventually([&] { return pl->target().Sql(gone) == "0"; }, seconds(10)));
  EXPECT_EQ(pl->Diff("t", "id"), "") << pl->apply().LogTail();
  EXPECT_EQ(pl->target().Sql("SELECT count(*) FROM t WHERE v = 'third'"), "200");
  EXPECT_TRUE(pl->apply().running()) << pl->apply().LogTail();
  std::string log = ReadWholeFile(pl->apply().log_path());
  EXPECT_NE(log.find("ended its server process"), std::string::npos) << log;
  EXPECT_EQ(log.find("insert_exists"), std::string::npos) << "a batch applied twice:\n" << log;

  // A stop request while the new backend is frozen, with the default stall
  // timeout (minutes): apply ends within seconds. (What it abandons is done
  // again at the next start, as the stall above shows.)
  ASSERT_GE(SecondsToStop(pl->apply()), 0);
  ASSERT_TRUE(pl->StartApply());
  // Every partition seen once, so that the stop meets apply waiting for a batch.
  pl->source().Sql("UPDATE t SET v = 'fourth'");
  ASSERT_TRUE(pl->WaitConverged("t", "id", seconds(60))) << pl->Diff("t", "id") << pl->apply().LogTail();
  Frozen again(Pid(pl->target(), kApplyBackend));
  pl->source().Sql("INSERT INTO t SELECT g, 'fourth' FROM generate_series(201, 300) g");
  std::this_thread::sleep_for(seconds(2));  // apply now waits on the frozen backend
  double stop = SecondsToStop(pl->apply());
  std::printf("apply stopped %.2f s after SIGTERM with its target backend frozen\n", stop);
  ASSERT_GE(stop, 0) << pl->apply().LogTail();
  EXPECT_LT(stop, 5.0) << pl->apply().LogTail();
  EXPECT_NE(ReadWholeFile(pl->apply().log_path()).find("stop requested while waiting for"),
            std::string::npos)
      << pl->apply().LogTail();
}

TEST(FrozenConnectionTest, CaptureStopsWithinSecondsWhileKafkaIsDownAndItsQueueIsFull) {
  auto pl = StartWithTable("kafkadown", /*in_process_broker=*/true);
  ASSERT_NE(pl, nullptr);
  // One event per row: the 1,000 inserts below are 1,000 messages, more than the queue takes.
  ASSERT_TRUE(pl->StartCapture({"--flow-control", "off", "--kafka-property", "queue.buffering.max.messages=50",
                                "--transaction-events", "row"}));
  ASSERT_TRUE(pl->WaitCaptureStreaming()) << pl->capture().LogTail();
  pl->source().Sql("INSERT INTO t VALUES (0, 'topic exists')");
  ASSERT_TRUE(Eventually([&] { return pl->source().Sql("SELECT confirmed_flush_lsn >= pg_current_wal_lsn() "
                                                       "FROM pg_replication_slots") == "t"; },
                         seconds(30)))
      << pl->capture().LogTail();

  rd_kafka_mock_broker_set_down(pl->broker().mock(), 1);
  pl->source().Sql("INSERT INTO t SELECT g, 'while Kafka is down' FROM generate_series(1, 1000) g");
  std::this_thread::sleep_for(seconds(2));  // capture now waits for room in its queue
  double stop = SecondsToStop(pl->capture());
  std::printf("capture stopped %.2f s after SIGTERM with Kafka down and its queue full\n", stop);
  ASSERT_GE(stop, 0) << pl->capture().LogTail();
  EXPECT_LT(stop, 6.0) << pl->capture().LogTail();
  EXPECT_NE(ReadWholeFile(pl->capture().log_path()).find("stop requested while Kafka"), std::string::npos)
      << pl->capture().LogTail();

  // Nothing is lost: the slot kept what Kafka never took.
  rd_kafka_mock_broker_set_up(pl->broker().mock(), 1);
  ASSERT_TRUE(pl->StartCapture({"--flow-control", "off"}));
  ASSERT_TRUE(pl->StartApply());
  EXPECT_TRUE(pl->WaitConverged("t", "id", seconds(60))) << pl->Diff("t", "id") << pl->capture().LogTail();
}

}  // namespace
}  // namespace ferry::testing
