// The chaos suite (issue 12): under a pgbench load (several clients) over
// tables with a composite key and quoted mixed-case names, a foreign key, and a
// keyless REPLICA IDENTITY FULL table holding duplicate rows, N random faults:
// kill -9 of capture or apply, `pg_ctl stop -m immediate` of the target or the
// source, the dev broker down for a while or refusing requests. A supervisor
// restarts whatever exits (a stage exiting 2, a configuration error, fails the
// run). At the end the load stops, `ferry lag --wait-zero` must reach zero, and
// the target must equal the source exactly: `ferry validate`, and per table the
// row count, distinct row count and an md5 of the sorted rows on both sides.
//
// CHAOS_FAULTS (default 8, the short run `make test` makes; `make chaos` sets
// 50) and CHAOS_SEED (default: from the clock; printed at start, and the same
// seed replays the same sequence of faults and durations; the load's timing
// is not replayable). On failure the logs are copied to CHAOS_KEEP_DIR
// (default /tmp/ferry-chaos-failed-SEED).
//
// The broker is hosted in the test process (Pipeline's in_process_broker) so
// that the test can inject its faults; capture and apply are `ferry capture`
// and `ferry apply` processes reaching it over TCP.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "tests/support/ferry_command.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

const char* kSchema = R"sql(
CREATE TABLE orders (
  id int PRIMARY KEY,
  customer text NOT NULL,
  total numeric(20, 2) NOT NULL,
  updated timestamptz
);
CREATE TABLE "Order Lines" (
  "OrderId" int REFERENCES orders (id),
  "LineNo" int,
  "Sku" text NOT NULL,
  "Qty" int,
  PRIMARY KEY ("OrderId", "LineNo")
);
CREATE TABLE audit (order_id int, note text, at timestamptz);
CREATE INDEX audit_order ON audit (order_id);
ALTER TABLE audit REPLICA IDENTITY FULL;
)sql";

// Rows the initial snapshot copies; audit gets exact duplicates.
const char* kSeed = R"sql(
INSERT INTO orders SELECT g, 'c' || g, g, '2026-01-01' FROM generate_series(1, 1000) g;
INSERT INTO "Order Lines" SELECT o, l, 'sku-' || l, l FROM generate_series(1, 1000) o, generate_series(1, 3) l;
INSERT INTO audit SELECT g % 50, 'note ' || (g % 3), NULL FROM generate_series(1, 600) g;
)sql";

// Upserts an order and a line, adds an audit row (often a duplicate), updates
// ONE of several identical audit rows now and then, and deletes ONE of them
// (so that the audit table stays about its size).
const char* kLoadScript = R"sql(\set o random(1, 2000)
\set l random(1, 6)
\set q random(1, 100)
\set k random(0, 49)
BEGIN;
INSERT INTO orders VALUES (:o, 'c' || :o, :q, now()) ON CONFLICT (id) DO UPDATE SET total = orders.total + 1, updated = now();
INSERT INTO "Order Lines" VALUES (:o, :l, 'sku-' || :q, :q) ON CONFLICT ("OrderId", "LineNo") DO UPDATE SET "Qty" = "Order Lines"."Qty" + 1, "Sku" = EXCLUDED."Sku";
INSERT INTO audit VALUES (:k, 'note ' || (:q % 3), NULL);
UPDATE audit SET note = note || '+' WHERE ctid = (SELECT ctid FROM audit WHERE order_id = :k AND :q % 4 = 0 LIMIT 1);
DELETE FROM audit WHERE ctid = (SELECT ctid FROM audit WHERE order_id = (:k + 1) % 50 LIMIT 1);
COMMIT;
)sql";

// Deletes an order with its lines (locking the order first, so that a
// concurrent upsert of a line waits instead of breaking the foreign key).
const char* kDeleteScript = R"sql(\set o random(1, 2000)
BEGIN;
SELECT 1 FROM orders WHERE id = :o FOR UPDATE;
DELETE FROM "Order Lines" WHERE "OrderId" = :o;
DELETE FROM orders WHERE id = :o;
COMMIT;
)sql";

// The tables compared at the end (quoted where the name needs it).
const std::vector<std::string> kTables = {"orders", "\"Order Lines\"", "audit"};

enum class Fault { kKillCapture, kKillApply, kTargetCrash, kSourceCrash, kBrokerDown, kBrokerRefuses };
const std::map<Fault, std::string> kFaultNames = {
    {Fault::kKillCapture, "kill -9 capture"},       {Fault::kKillApply, "kill -9 apply"},
    {Fault::kTargetCrash, "target stop -m immediate"}, {Fault::kSourceCrash, "source stop -m immediate"},
    {Fault::kBrokerDown, "dev broker down"},         {Fault::kBrokerRefuses, "dev broker refuses requests"}};

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoll(v, nullptr, 10) : fallback;
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// A stage the supervisor keeps running: restarted (after a short pause) when
// it exits; an exit with status 2 is a configuration error and fails the run.
struct Stage {
  std::string name;
  ChildProcess* process;
  std::function<bool()> start;
  int restarts = 0;
  int own_exits = 0;  // exits the test did not cause (not by its kill -9)
  Clock::time_point down_since{};
  bool down = false;
};

class ChaosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    faults_ = static_cast<int>(EnvInt("CHAOS_FAULTS", 8));
    seed_ = static_cast<uint64_t>(
        EnvInt("CHAOS_SEED", std::chrono::system_clock::now().time_since_epoch().count() % 1000000000));
    std::printf("[ chaos ] CHAOS_SEED=%llu CHAOS_FAULTS=%d\n", static_cast<unsigned long long>(seed_), faults_);
    std::fflush(stdout);
    rng_.seed(seed_);
  }

  void TearDown() override {
    if (pgbench_.running()) pgbench_.Kill();
    if (HasFailure() && pl_ != nullptr) KeepLogs();
  }

  // Copies the pipeline's logs and both servers' logs where they outlive the test.
  void KeepLogs() {
    const char* env = std::getenv("CHAOS_KEEP_DIR");
    std::string keep = env != nullptr && *env != '\0' ? env : "/tmp/ferry-chaos-failed-" + std::to_string(seed_);
    RunShell("mkdir -p " + ShellQuote(keep) + " && cp " + ShellQuote(pl_->dir()) + "/*.log " + ShellQuote(keep) +
             "/ 2>/dev/null; cp " + ShellQuote(pl_->source().dir() + "/server.log") + " " +
             ShellQuote(keep + "/source-server.log") + "; cp " + ShellQuote(pl_->target().dir() + "/server.log") +
             " " + ShellQuote(keep + "/target-server.log"));
    std::printf("[ chaos ] logs kept in %s\n", keep.c_str());
  }

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  bool StartLoad() {
    return pgbench_.Start({"/usr/lib/postgresql/15/bin/pgbench", "-n", "-c", "4", "-T", "100000", "-f",
                           pl_->dir() + "/load.sql@9", "-f", pl_->dir() + "/delete.sql@1", pl_->source().conninfo()},
                          pl_->dir() + "/pgbench.log");
  }

  // One supervision pass: restarts every stage that exited.
  void Supervise() {
    for (auto& s : stages_) {
      if (s.process->running()) continue;
      if (!s.down) {
        int code = s.process->Wait(milliseconds(0));
        s.down = true;
        s.down_since = Clock::now();
        if (code != 128 + SIGKILL) ++s.own_exits;
        if (code == 2 && s.name != "pgbench") {
          ADD_FAILURE() << s.name << " exited 2 (a configuration error):\n" << s.process->LogTail();
          config_error_ = true;
        }
      }
      if (Clock::now() - s.down_since < milliseconds(500)) continue;
      if (s.start()) {
        s.down = false;
        ++s.restarts;
      }
    }
  }

  // Sleeps `ms` while supervising.
  void SupervisedSleep(int ms) {
    auto until = Clock::now() + milliseconds(ms);
    while (Clock::now() < until) {
      Supervise();
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  void Inject(Fault f) {
    auto* mock = pl_->broker().mock();
    switch (f) {
      case Fault::kKillCapture:
        pl_->capture().Kill();
        break;
      case Fault::kKillApply:
        pl_->apply().Kill();
        break;
      case Fault::kTargetCrash:
        EXPECT_TRUE(pl_->target().Stop("immediate").ok());
        SupervisedSleep(Uniform(300, 4000));
        EXPECT_TRUE(pl_->target().Restart().ok());
        break;
      case Fault::kSourceCrash:
        EXPECT_TRUE(pl_->source().Stop("immediate").ok());
        SupervisedSleep(Uniform(300, 4000));
        EXPECT_TRUE(pl_->source().Restart().ok());
        break;
      case Fault::kBrokerDown:
        rd_kafka_mock_broker_set_down(mock, 1);
        SupervisedSleep(Uniform(1000, 8000));
        rd_kafka_mock_broker_set_up(mock, 1);
        break;
      case Fault::kBrokerRefuses: {
        // Retriable errors on a request the pipeline depends on.
        struct Refusal {
          int api_key;
          std::vector<rd_kafka_resp_err_t> errors;
        };
        static const std::vector<Refusal> kRefusals = {
            {0, {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                 RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS}},                                     // Produce
            {1, {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT}},  // Fetch
            {2, {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT}},  // ListOffsets
            {8, {RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                 RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT}},                                       // OffsetCommit
            {9, {RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_NOT_COORDINATOR}},  // OffsetFetch
        };
        const Refusal& r = kRefusals[Uniform(0, static_cast<int>(kRefusals.size()) - 1)];
        std::vector<rd_kafka_resp_err_t> errors(Uniform(1, 10));
        for (auto& e : errors) e = r.errors[Uniform(0, static_cast<int>(r.errors.size()) - 1)];
        rd_kafka_mock_push_request_errors_array(mock, static_cast<int16_t>(r.api_key), errors.size(), errors.data());
        SupervisedSleep(1000);
        break;
      }
    }
  }

  // Per table: rows, distinct rows, md5 of the sorted rows.
  static std::string Fingerprint(const PgCluster& c, const std::string& table) {
    return c.Sql("SELECT count(*) || ' rows, ' || count(DISTINCT t) || ' distinct, md5 ' || "
                 "coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '-') FROM " + table + " t");
  }

  int faults_ = 8;
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::unique_ptr<Pipeline> pl_;
  ChildProcess pgbench_;
  std::vector<Stage> stages_;
  bool config_error_ = false;
};

TEST_F(ChaosTest, RandomFaultsUnderLoadLoseAndDoubleNothing) {
  auto started = Pipeline::Start("chaos", /*in_process_broker=*/true);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  pl_ = std::move(started).value();
  pl_->CreateOnBoth(kSchema);
  pl_->source().Sql(kSeed);
  WriteFile(pl_->dir() + "/load.sql", kLoadScript);
  WriteFile(pl_->dir() + "/delete.sql", kDeleteScript);
  ASSERT_TRUE(pl_->StartApply());
  ASSERT_TRUE(pl_->StartCapture());
  ASSERT_TRUE(pl_->WaitCaptureStreaming(seconds(120))) << pl_->capture().LogTail();
  ASSERT_TRUE(StartLoad());
  stages_ = {{"capture", &pl_->capture(), [this] { return pl_->StartCapture(); }},
             {"apply", &pl_->apply(), [this] { return pl_->StartApply(); }},
             {"pgbench", &pgbench_, [this] { return StartLoad(); }}};
  SupervisedSleep(2000);

  std::map<Fault, int> injected;
  std::string sequence;
  for (int i = 0; i < faults_ && !config_error_; ++i) {
    Fault f = static_cast<Fault>(Uniform(0, static_cast<int>(kFaultNames.size()) - 1));
    int gap = Uniform(500, 4000);
    SupervisedSleep(gap);
    std::printf("[ chaos ] fault %d/%d after %d ms: %s\n", i + 1, faults_, gap, kFaultNames.at(f).c_str());
    std::fflush(stdout);
    ++injected[f];
    sequence += kFaultNames.at(f) + "; ";
    Inject(f);
  }
  SupervisedSleep(2000);
  pgbench_.Kill();
  const int load_restarts = stages_.back().restarts;
  stages_.pop_back();

  // Every stage up, then lag zero (the supervisor keeps restarting in between).
  bool zero = false;
  FerryRun lag;
  auto deadline = Clock::now() + seconds(300);
  while (!zero && !config_error_ && Clock::now() < deadline) {
    SupervisedSleep(500);
    lag = RunFerry({"lag", "--source", pl_->source().conninfo(), "--brokers", pl_->brokers(), "--wait-zero",
                    "--timeout", "20s"},
                   pl_->dir() + "/lag.log");
    zero = lag.exit_code == 0;
  }
  EXPECT_TRUE(zero) << "lag never reached zero:\n" << lag.out << "\ncapture:\n" << pl_->capture().LogTail()
                    << "\napply:\n" << pl_->apply().LogTail();
  SupervisedSleep(500);

  FerryRun validate = RunFerry({"validate", "--source", pl_->source().conninfo(), "--target",
                                pl_->target().conninfo(), "--settle-timeout", "30s"},
                               pl_->dir() + "/validate.log");
  EXPECT_EQ(validate.exit_code, 0) << validate.out;
  bool equal = validate.exit_code == 0;
  for (const auto& table : kTables) {
    std::string src = Fingerprint(pl_->source(), table);
    std::string dst = Fingerprint(pl_->target(), table);
    std::printf("[ chaos ] %-15s source %s\n[ chaos ] %-15s target %s\n", table.c_str(), src.c_str(), "",
                dst.c_str());
    EXPECT_EQ(src, dst) << table << " differs; " << pl_->Diff(table, "t::text");
    equal = equal && src == dst;
  }

  std::printf("[ chaos ] summary: seed %llu, %d faults:", static_cast<unsigned long long>(seed_), faults_);
  for (const auto& [f, n] : injected) std::printf(" %s x%d;", kFaultNames.at(f).c_str(), n);
  std::printf("\n[ chaos ] restarts:");
  for (const auto& s : stages_) {
    std::printf(" %s %d (%d exited on their own);", s.name.c_str(), s.restarts, s.own_exits);
  }
  std::printf(" pgbench %d\n[ chaos ] sequence: %s\n[ chaos ] result: %s\n", load_restarts, sequence.c_str(),
              equal && zero && !config_error_ ? "PASS (target equals source)" : "FAIL");
  std::fflush(stdout);
}

}  // namespace
}  // namespace ferry::testing
