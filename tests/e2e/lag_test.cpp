// `ferry lag` and the metrics endpoints against the running pipeline:
// --wait-zero reaches zero on a busy source (and every row committed before it
// started is then on the target), on an idle source within about a second, and
// times out with the remaining lag while apply is stopped; --json is sane; the
// --metrics-addr endpoints of capture and apply count what went through.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/lsn.h"
#include "tests/e2e/workload.h"
#include "tests/support/http.h"
#include "tests/support/metrics_scrape.h"
#include "tests/support/ferry_command.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

// Inserts 1, 2, 3, ... into `marks`, one autocommitted row at a time, and
// records the highest id whose commit returned.
class MarkWriter {
 public:
  explicit MarkWriter(const PgCluster& source) : source_(source) {}
  ~MarkWriter() { Stop(); }
  void Start() {
    thread_ = std::thread([this] {
      auto conn = source_.Connect();
      for (int64_t i = 1; conn.ok() && !stop_; ++i) {
        if (!conn->Exec("INSERT INTO marks VALUES (" + std::to_string(i) + ")").ok()) return;
        committed_ = i;
      }
    });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t committed() const { return committed_; }

 private:
  const PgCluster& source_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> committed_{0};
  std::thread thread_;
};

class LagTest : public WorkloadPipelineTest {
 protected:
  void Start(const std::string& name, const std::vector<std::string>& capture_extra = {},
             const std::vector<std::string>& apply_extra = {}, bool in_process_broker = false) {
    auto p = Pipeline::Start(name, in_process_broker);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    pl_ = std::move(p).value();
    pl_->CreateOnBoth(std::string(kWorkloadSchema) + "CREATE TABLE marks (id bigint PRIMARY KEY);");
    ASSERT_TRUE(pl_->StartApply(apply_extra));
    ASSERT_TRUE(pl_->StartCapture(capture_extra));
    ASSERT_TRUE(pl_->WaitCaptureStreaming()) << pl_->capture().LogTail();
  }

  std::vector<std::string> LagArgs(const std::vector<std::string>& extra) {
    std::vector<std::string> args{"lag",     "--source", pl_->source().conninfo(), "--slot", "ferry",
                                  "--brokers", pl_->brokers(), "--group", "ferry-apply",
                                  "--topic-prefix", "ferry"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  FerryRun Lag(const std::vector<std::string>& extra) {
    return RunFerry(LagArgs(extra), pl_->dir() + "/lag.log");
  }

  std::string LagLog() {
    std::ifstream in(pl_->dir() + "/lag.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  int64_t TargetMarksUpTo(int64_t id) {
    return std::stoll(pl_->target().Sql("SELECT count(*) FROM marks WHERE id <= " + std::to_string(id)));
  }
};

TEST_F(LagTest, WaitZeroOnABusySourceCoversEveryEarlierCommitAndMetricsCount) {
  Start("lag-busy", {"--metrics-addr", "127.0.0.1:0"}, {"--metrics-addr", "127.0.0.1:0"});
  Workload workload(pl_->source());
  MarkWriter marks(pl_->source());
  workload.Start();
  marks.Start();
  for (int i = 0; i < 200 && marks.committed() < 200; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));

  // Every row committed before the command starts must be on the target when it returns 0.
  for (int round = 0; round < 3; ++round) {
    int64_t before = marks.committed();
    FerryRun wait = Lag({"--wait-zero", "--timeout", "90s"});
    ASSERT_EQ(wait.exit_code, 0) << wait.out << LagLog() << pl_->apply().LogTail();
    EXPECT_EQ(TargetMarksUpTo(before), before)
        << "ferry lag --wait-zero returned before row " << before << " was applied\n" << wait.out;
    EXPECT_GT(marks.committed(), before) << "the source stayed busy during the wait";
    std::printf("[ measure ] busy source: wait-zero took %.2f s\n", wait.seconds);
  }

  // While everything still runs (apply has committed by now): a report, as JSON.
  FerryRun report = Lag({"--json"});
  ASSERT_EQ(report.exit_code, 0) << LagLog();
  auto j = nlohmann::json::parse(report.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << report.out;
  EXPECT_EQ(j["slot"], "ferry");
  EXPECT_TRUE(j["capture"]["slot_active"].get<bool>()) << report.out;
  auto wal = Lsn::Parse(j["source"]["wal_lsn"].get<std::string>());
  auto confirmed = Lsn::Parse(j["capture"]["confirmed_flush_lsn"].get<std::string>());
  ASSERT_TRUE(wal.ok() && confirmed.ok()) << report.out;
  EXPECT_LE(*confirmed, *wal);
  EXPECT_GE(j["capture"]["retained_wal_bytes"].get<int64_t>(), j["capture"]["lag_bytes"].get<int64_t>());
  EXPECT_EQ(j["kafka"]["topics"].get<int>(), 1) << "every change in one ordered topic: " << report.out;
  EXPECT_FALSE(j["kafka"]["partitions"].empty());
  int64_t sum = 0;
  for (const auto& p : j["kafka"]["partitions"]) {
    EXPECT_GE(p["log_end"].get<int64_t>(), p["log_start"].get<int64_t>());
    sum += p["lag_events"].get<int64_t>();
  }
  EXPECT_EQ(sum, j["lag"]["events"].get<int64_t>());
  ASSERT_FALSE(j["apply"]["last_applied"].is_null()) << "apply stores its position in the commit metadata\n"
                                                     << report.out;
  auto applied = Lsn::Parse(j["apply"]["last_applied"]["lsn"].get<std::string>());
  ASSERT_TRUE(applied.ok());
  EXPECT_TRUE(applied->IsValid()) << report.out;
  // The report reads the source before Kafka, and the source is busy: apply may
  // have applied a commit made after that read, never one not made yet.
  auto wal_now = Lsn::Parse(pl_->source().Sql("SELECT pg_current_wal_lsn()"));
  ASSERT_TRUE(wal_now.ok());
  EXPECT_LE(*applied, *wal_now);
  EXPECT_GT(j["apply"]["last_applied"]["commit_time_us"].get<int64_t>(), 0);

  // The endpoints count what went through.
  std::string capture_addr = MetricsAddress(pl_->capture());
  std::string apply_addr = MetricsAddress(pl_->apply());
  ASSERT_FALSE(capture_addr.empty()) << pl_->capture().LogTail();
  ASSERT_FALSE(apply_addr.empty()) << pl_->apply().LogTail();
  std::string body;
  EXPECT_GT(Scrape(capture_addr, "ferry_capture_events_total", &body), 200) << body;
  EXPECT_NE(body.find("ferry_capture_events_total{table=\"public.marks\"}"), std::string::npos) << body;
  EXPECT_GT(Scrape(capture_addr, "ferry_capture_confirmed_lsn"), 0) << body;
  EXPECT_GT(Scrape(apply_addr, "ferry_apply_events_total", &body), 200) << body;
  EXPECT_NE(body.find("ferry_apply_events_total{table=\"public.marks\"}"), std::string::npos) << body;
  EXPECT_GT(Scrape(apply_addr, "ferry_apply_last_commit_timestamp_seconds"), 1.6e9) << body;
  EXPECT_NE(body.find("# TYPE ferry_apply_lag_seconds gauge"), std::string::npos) << body;
  // The slot gauges are refreshed every 5 s.
  double retained = 0;
  for (int i = 0; i < 100 && retained <= 0; ++i) {
    retained = Scrape(capture_addr, "ferry_capture_slot_retained_wal_bytes");
    if (retained <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GT(retained, 0);

  marks.Stop();
  workload.Stop();
  EXPECT_EQ(workload.error(), "");
}

TEST_F(LagTest, WaitZeroOnAnIdleSourceReturnsAtOnceAndTimesOutWhileApplyIsStopped) {
  Start("lag-idle");
  pl_->source().Sql("INSERT INTO marks SELECT generate_series(1, 100)");
  ASSERT_TRUE(pl_->WaitConverged("marks", "id", seconds(60))) << pl_->apply().LogTail();
  std::this_thread::sleep_for(seconds(2));  // idle

  FerryRun idle = Lag({"--wait-zero", "--timeout", "30s"});
  ASSERT_EQ(idle.exit_code, 0) << idle.out << LagLog();
  std::printf("[ measure ] idle source: wait-zero took %.2f s\n", idle.seconds);
  EXPECT_LT(idle.seconds, 3.0) << "an idle, caught-up pipeline is at zero lag at once";

  // One write, then wait: the row is on the target when it returns.
  pl_->source().Sql("INSERT INTO marks VALUES (101)");
  FerryRun one = Lag({"--wait-zero", "--timeout", "30s"});
  ASSERT_EQ(one.exit_code, 0) << one.out << LagLog();
  EXPECT_EQ(TargetMarksUpTo(101), 101);
  std::printf("[ measure ] one write on an idle source: wait-zero took %.2f s\n", one.seconds);

  // Apply stopped: the lag cannot reach zero; the command says what remains.
  pl_->apply().Signal(SIGTERM);
  ASSERT_EQ(pl_->apply().Wait(seconds(30)), 0) << pl_->apply().LogTail();
  auto before_insert = Lsn::Parse(pl_->source().Sql("SELECT pg_current_wal_lsn()"));
  ASSERT_TRUE(before_insert.ok());
  pl_->source().Sql("INSERT INTO marks SELECT generate_series(102, 150)");
  FerryRun stuck = Lag({"--wait-zero", "--timeout", "3s", "--json"});
  EXPECT_EQ(stuck.exit_code, 1) << stuck.out << LagLog();
  EXPECT_GE(stuck.seconds, 3.0);
  EXPECT_LT(stuck.seconds, 15.0);
  auto j = nlohmann::json::parse(stuck.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << stuck.out;
  EXPECT_FALSE(j["wait"]["zero"].get<bool>());
  EXPECT_TRUE(j["wait"]["slot_reached"].get<bool>()) << "capture still runs: the slot reaches the target LSN";
  // 49 rows in one transaction: 49 events and its end marker.
  EXPECT_EQ(j["wait"]["events_remaining"].get<int64_t>(), 50) << stuck.out;
  EXPECT_GE(j["lag"]["events"].get<int64_t>(), 50);
  EXPECT_NE(LagLog().find("lag did not reach zero within 3s"), std::string::npos) << LagLog();

  // The human table says it too.
  FerryRun table = Lag({"--wait-zero", "--timeout", "500ms"});
  EXPECT_EQ(table.exit_code, 1);
  EXPECT_NE(table.out.find("50 events remaining"), std::string::npos) << table.out;
  std::printf("[ measure ] the table while apply is stopped:\n%s", table.out.c_str());

  // Apply back: zero again, with every row.
  ASSERT_TRUE(pl_->StartApply());
  FerryRun back = Lag({"--wait-zero", "--timeout", "60s"});
  EXPECT_EQ(back.exit_code, 0) << back.out << LagLog() << pl_->apply().LogTail();
  EXPECT_EQ(TargetMarksUpTo(150), 150);
  FerryRun after = Lag({"--json"});
  auto aj = nlohmann::json::parse(after.out, nullptr, false);
  ASSERT_FALSE(aj.is_discarded()) << after.out;
  ASSERT_FALSE(aj["apply"]["last_applied"].is_null()) << after.out;
  auto last_applied = Lsn::Parse(aj["apply"]["last_applied"]["lsn"].get<std::string>());
  ASSERT_TRUE(last_applied.ok());
  EXPECT_GT(*last_applied, *before_insert) << "the last applied commit is the insert's\n" << after.out;
  EXPECT_EQ(aj["lag"]["events"], 0) << after.out;

  // Capture frozen: rows committed before the wait are not in Kafka yet; the
  // wait must cover them anyway (it waits for the slot before reading the log ends).
  pl_->capture().Signal(SIGSTOP);
  pl_->source().Sql("INSERT INTO marks SELECT generate_series(151, 200)");
  ChildProcess waiter;
  std::vector<std::string> argv = LagArgs({"--wait-zero", "--timeout", "60s"});
  argv.insert(argv.begin(), FerryBinary());
  ASSERT_TRUE(waiter.Start(argv, pl_->dir() + "/lag-frozen.log"));
  std::this_thread::sleep_for(seconds(2));
  EXPECT_TRUE(waiter.running()) << "returned while capture was frozen";
  pl_->capture().Signal(SIGCONT);
  EXPECT_EQ(waiter.Wait(seconds(60)), 0) << waiter.LogTail();
  EXPECT_EQ(TargetMarksUpTo(200), 200) << "wait-zero returned before rows committed earlier were applied";
}

// Kafka acknowledges late (the produce request is refused a few times), so
// the server's keepalive after the last transaction can arrive while its
// events are still in flight. The slot must still reach the WAL end once they
// are acknowledged, or the wait would not end on an idle source.
TEST_F(LagTest, WaitZeroWhenTheLastKeepaliveCameWhileEventsWereInFlight) {
  Start("lag-rtt", {}, {}, /*in_process_broker=*/true);
  pl_->source().Sql("INSERT INTO marks VALUES (1)");
  ASSERT_TRUE(pl_->WaitConverged("marks", "id", seconds(60))) << pl_->apply().LogTail();
  for (int64_t id = 2; id <= 4; ++id) {
    // The produce request is refused a few times (retriable): the ack comes
    // after the server's keepalive.
    constexpr int kProduceApiKey = 0;
    rd_kafka_mock_push_request_errors(pl_->broker().mock(), kProduceApiKey, 4,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
    pl_->source().Sql("INSERT INTO marks VALUES (" + std::to_string(id) + ")");
    FerryRun r = Lag({"--wait-zero", "--timeout", "10s"});
    EXPECT_EQ(r.exit_code, 0) << r.out << LagLog() << pl_->capture().LogTail();
    EXPECT_EQ(TargetMarksUpTo(id), id);
    std::printf("[ measure ] one write, acks late: wait-zero took %.2f s\n", r.seconds);
  }
}

}  // namespace
}  // namespace ferry::testing
