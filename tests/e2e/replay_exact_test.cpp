// Replays after a crash are exact under the none rule. Apply is killed -9 at
// random moments, while the source commits inserts into a keyed table and
// inserts and updates into a table without a key (REPLICA IDENTITY FULL,
// duplicate rows). An event applied twice would double a keyless row or be
// counted as an insert_exists conflict; neither may happen. (Apply's position
// is committed with the rows, so no window between the two exists.)
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <thread>

#include "tests/support/eventually.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

TEST(ReplayExactTest, KillNineApplyUnderNoneRuleCountsAndDoublesNothing) {
  auto p = Pipeline::Start("replay-exact");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.CreateOnBoth("CREATE TABLE keyed (id int PRIMARY KEY, v text);"
                  "CREATE TABLE keyless (a int, b text); ALTER TABLE keyless REPLICA IDENTITY FULL");
  const std::vector<std::string> flags = {"--conflict", "none", "--batch-max-events", "50"};
  ASSERT_TRUE(pl.StartApply(flags));
  ASSERT_TRUE(pl.StartCapture());
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();

  pl.source().Sql("INSERT INTO keyless VALUES (-1, 'first')");
  ASSERT_TRUE(pl.WaitConverged("keyless", "a, b", seconds(60))) << pl.apply().LogTail();
  ASSERT_EQ(pl.target().Sql("SELECT count(*) FROM keyless WHERE a = -1"), "1");
  pl.apply().Kill();
  ASSERT_TRUE(pl.StartApply(flags));

  std::atomic<bool> stop{false};
  std::atomic<int> done{0};
  std::string error;
  std::thread writer([&] {
    auto conn = pl.source().Connect();
    if (!conn.ok()) {
      error = conn.status().ToString();
      return;
    }
    for (int i = 0; !stop; ++i) {
      std::string n = std::to_string(i);
      auto r = conn->Exec("BEGIN; INSERT INTO keyed VALUES (" + n + ", 'v'); INSERT INTO keyless VALUES (" +
                          std::to_string(i % 20) + ", 'x'); UPDATE keyless SET b = 'y' WHERE ctid = "
                          "(SELECT ctid FROM keyless WHERE b = 'x' AND a = " + std::to_string(i % 7) +
                          " LIMIT 1); COMMIT");
      if (!r.ok()) {
        error = r.status().ToString();
        return;
      }
      done = i + 1;
    }
  });
  for (int crash = 0; crash < 2; ++crash) {
    int before = done;
    ASSERT_TRUE(Eventually([&] { return done > before + 150 || !error.empty(); }, seconds(60)));
    pl.apply().Kill();
    ASSERT_TRUE(pl.StartApply(flags));
  }
  int before = done;
  Eventually([&] { return done > before + 150 || !error.empty(); }, seconds(60));
  stop = true;
  writer.join();
  ASSERT_EQ(error, "");

  EXPECT_TRUE(pl.WaitConverged("keyed", "id", seconds(90))) << pl.Diff("keyed", "id");
  EXPECT_TRUE(pl.WaitConverged("keyless", "a, b", seconds(90))) << pl.Diff("keyless", "a, b");
  pl.apply().Signal(SIGTERM);
  ASSERT_EQ(pl.apply().Wait(seconds(30)), 0) << pl.apply().LogTail();
  std::string log = ReadWholeFile(pl.apply().log_path());
  EXPECT_EQ(log.find("insert_exists"), std::string::npos) << pl.apply().LogTail();
  EXPECT_NE(log.find("conflicts: none"), std::string::npos) << pl.apply().LogTail();
}

}  // namespace
}  // namespace ferry::testing
