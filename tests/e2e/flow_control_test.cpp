// Capture's flow control with the processes apart (issue 12, "a silent,
// permanent stall from one flag"): apply runs as another group than the one
// capture follows by default. The dev broker cannot list consumer groups, so
// capture cannot find apply's group by itself; it must say so loudly, once,
// with the fix, and `ferry lag` must show the pause: which group, since when,
// how far behind.
#include <gtest/gtest.h>


#include <nlohmann/json.hpp>

#include "tests/support/ferry_command.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

TEST(FlowControlE2eTest, ApplyUnderAnotherGroupStallIsExplainedAndShownByLag) {
  auto started = Pipeline::Start("fc-group");
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  auto& pl = **started;
  pl.CreateOnBoth("CREATE TABLE keyed (id bigint PRIMARY KEY, v text)");
  ASSERT_TRUE(pl.StartApply({"--group", "acc-apply"}));
  // A small bound, so a few hundred KiB pause it.
  ASSERT_TRUE(pl.StartCapture({"--flow-control-max-bytes", "65536", "--snapshot", "never"}));
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();
  // Values that do not compress: a batch of these rows is as big on Kafka as its rows.
  pl.source().Sql("INSERT INTO keyed SELECT g, " + std::string(kIncompressible) + " FROM generate_series(1, 4000) g");

  ASSERT_TRUE(WaitLog(pl.capture(), "flow control: pausing", seconds(60))) << pl.capture().LogTail();
  EXPECT_TRUE(WaitLog(pl.capture(), "consumer group 'ferry-apply' has not committed an offset", seconds(5)))
      << pl.capture().LogTail();
  std::string log = ReadLog(pl.capture());
  EXPECT_NE(log.find("--flow-control-group"), std::string::npos) << pl.capture().LogTail();

  std::string lag_log = pl.dir() + "/lag.log";
  std::vector<std::string> lag{"lag", "--source", pl.source().conninfo(), "--brokers", pl.brokers(),
                               "--group", "acc-apply"};
  FerryRun table = RunFerry(lag, lag_log);
  ASSERT_EQ(table.exit_code, 0) << table.out;
  EXPECT_NE(table.out.find("PAUSED by flow control since "), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("group 'ferry-apply'"), std::string::npos) << table.out;
  lag.push_back("--json");
  FerryRun json = RunFerry(lag, lag_log);
  ASSERT_EQ(json.exit_code, 0) << json.out;
  auto j = nlohmann::json::parse(json.out);
  const auto& fc = j["capture"]["flow_control"];
  ASSERT_TRUE(fc.is_object()) << json.out;
  EXPECT_EQ(fc["paused"], true);
  EXPECT_EQ(fc["group"], "ferry-apply");
  EXPECT_GT(fc["behind_bytes"].get<int64_t>(), 65536);
  EXPECT_FALSE(fc["since"].is_null());

  // The fix the message names.
  pl.capture().Signal(SIGTERM);
  ASSERT_EQ(pl.capture().Wait(std::chrono::milliseconds(30000)), 0) << pl.capture().LogTail();
  ASSERT_TRUE(pl.StartCapture({"--flow-control-max-bytes", "65536", "--flow-control-group", "acc-apply"}));
  EXPECT_TRUE(pl.WaitConverged("keyed", "id", seconds(120))) << pl.Diff("keyed", "id") << pl.capture().LogTail();
  FerryRun after = RunFerry(lag, lag_log);
  ASSERT_EQ(after.exit_code, 0) << after.out;
  EXPECT_EQ(nlohmann::json::parse(after.out)["capture"]["flow_control"]["paused"], false) << after.out;
}

}  // namespace
}  // namespace ferry::testing
