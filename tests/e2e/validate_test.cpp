// `ferry validate` as a user runs it: a 100,000-row table with an injected
// missing, extra and changed row; --json; --repair; and a run while a pipeline
// still applies a workload (in-flight rows are not drift).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/e2e/workload.h"
#include "tests/support/ferry_command.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
  double seconds = 0;
};

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

CliRun Validate(const PgCluster& source, const PgCluster& target, const std::string& extra,
                const std::string& dir) {
  std::string out = dir + "/validate.out", err = dir + "/validate.err";
  std::string cmd = FerryBinary() + " validate --source " + ShellQuote(source.conninfo()) + " --target " +
                    ShellQuote(target.conninfo()) + " " + extra + " > " + out + " 2> " + err;
  auto start = std::chrono::steady_clock::now();
  int status = RunShell(cmd);
  CliRun r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = Slurp(out);
  r.err = Slurp(err);
  return r;
}

TEST(ValidateCliTest, FindsAndRepairsAMissingAnExtraAndAChangedRowIn100kRows) {
  TempDir dir("validate");
  auto s = PgCluster::Start("val-src", false);
  auto t = PgCluster::Start("val-tgt", false);
  ASSERT_TRUE(s.ok() && t.ok());
  const char* fill =
      "CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric(12, 2), added timestamptz, "
      "tags text[]); INSERT INTO items SELECT g, 'item ' || g, g / 7.0, '2024-01-01'::timestamptz + "
      "g * interval '1 minute', ARRAY['t' || (g % 10)] FROM generate_series(1, 100000) g";
  (*s)->Sql(fill);
  (*t)->Sql(fill);
  (*t)->Sql("DELETE FROM items WHERE id = 31337; UPDATE items SET price = 0 WHERE id = 77777; "
            "INSERT INTO items VALUES (100001, 'stray', 1, now(), NULL)");

  CliRun found = Validate(**s, **t, "--settle-timeout 1s", dir.path());
  EXPECT_EQ(found.exit_code, 1) << found.out << found.err;
  EXPECT_NE(found.out.find("public.items"), std::string::npos) << found.out;
  EXPECT_NE(found.out.find("missing   id=31337"), std::string::npos) << found.out;
  EXPECT_NE(found.out.find("different id=77777"), std::string::npos) << found.out;
  EXPECT_NE(found.out.find("extra     id=100001"), std::string::npos) << found.out;
  EXPECT_NE(found.out.find("1 missing (on source, not on target), 1 extra (on target only), 1 different"),
            std::string::npos) << found.out;
  std::cout << found.out << "validate of 100,000 rows with 3 differing (incl. 1 s settle): "
            << found.seconds << " s\n";

  CliRun json = Validate(**s, **t, "--settle-timeout 0 --json --tables public.items", dir.path());
  EXPECT_EQ(json.exit_code, 1) << json.err;
  auto j = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << json.out;
  EXPECT_EQ(j["match"], false);
  ASSERT_EQ(j["tables"].size(), 1u);
  auto& items = j["tables"][0];
  EXPECT_EQ(items["table"], "public.items");
  EXPECT_EQ(items["source_rows"], 100000);
  EXPECT_EQ(items["target_rows"], 100000);
  EXPECT_EQ(items["missing"], 1);
  EXPECT_EQ(items["extra"], 1);
  EXPECT_EQ(items["different"], 1);
  EXPECT_EQ(items["key"], nlohmann::json::array({"id"}));
  EXPECT_EQ(items["rows"], nlohmann::json::parse(R"([
      {"problem": "missing", "key": {"id": "31337"}},
      {"problem": "different", "key": {"id": "77777"}},
      {"problem": "extra", "key": {"id": "100001"}}])"));
  EXPECT_TRUE(items["seen_at_lsn"].is_string());

  CliRun repaired = Validate(**s, **t, "--settle-timeout 1s --repair", dir.path());
  EXPECT_EQ(repaired.exit_code, 0) << repaired.out << repaired.err;
  EXPECT_NE(repaired.out.find("repair: 2 upserted, 1 deleted"), std::string::npos) << repaired.out;

  CliRun clean = Validate(**s, **t, "", dir.path());
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_NE(clean.out.find("MATCH"), std::string::npos) << clean.out;
  std::cout << "validate of 100,000 equal rows: " << clean.seconds << " s\n";
  EXPECT_EQ((*t)->Sql("SELECT price FROM items WHERE id = 77777"), "11111.00");

  CliRun unknown = Validate(**s, **t, "--tables public.items,public.nope", dir.path());
  EXPECT_EQ(unknown.exit_code, 2) << unknown.out << unknown.err;
  EXPECT_NE(unknown.err.find("public.nope does not exist"), std::string::npos) << unknown.err;
  CliRun no_slot = Validate(**s, **t, "--slot nope", dir.path());
  EXPECT_EQ(no_slot.exit_code, 2) << no_slot.out << no_slot.err;
  EXPECT_NE(no_slot.err.find("replication slot 'nope' does not exist"), std::string::npos) << no_slot.err;
}

// Validate runs while the workload is still being applied: rows it sees
// differing are in flight, and must be re-checked until apply has them; real
// drift in the same running pipeline is still reported.
TEST(ValidateCliTest, RowsInFlightInARunningPipelineAreNotReportedAsDrift) {
  auto p = Pipeline::Start("val-pipe");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.CreateOnBoth(kWorkloadSchema);
  ASSERT_TRUE(pl.StartApply());
  ASSERT_TRUE(pl.StartCapture());
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();
  pl.source().Sql("INSERT INTO events SELECT g, repeat('p', 100), now() FROM generate_series(1000000, 1020000) g");

  Workload workload(pl.source());
  workload.Start();
  std::thread stopper([&] {
    std::this_thread::sleep_for(seconds(2));
    workload.Stop();
  });
  CliRun run = Validate(pl.source(), pl.target(), "--settle-timeout 90s --json --slot ferry", pl.dir());
  stopper.join();
  ASSERT_TRUE(workload.error().empty()) << workload.error();
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err << pl.apply().LogTail();
  auto j = nlohmann::json::parse(run.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << run.out;
  int64_t settled = 0;
  for (auto& t : j["tables"]) settled += t["settled_rows"].get<int64_t>();
  std::cout << "rows seen in flight, then matched: " << settled << "\n";
  EXPECT_GT(settled, 0) << "nothing was in flight: the run proved nothing";

  // Drift no event will fix is still reported, once the settle time is up.
  pl.target().Sql("UPDATE events SET payload = 'drift' WHERE id = 1000005");
  CliRun drift = Validate(pl.source(), pl.target(), "--settle-timeout 2s --slot ferry --tables public.events",
                          pl.dir());
  EXPECT_EQ(drift.exit_code, 1) << drift.out << drift.err;
  EXPECT_NE(drift.out.find("different id=1000005"), std::string::npos) << drift.out;
  EXPECT_NE(drift.out.find("0 missing (on source, not on target), 0 extra (on target only), 1 different"),
            std::string::npos) << drift.out;
}

}  // namespace
}  // namespace ferry::testing
