// Issue 12, item 3, with the processes apart: capture stalled by flow control,
// then capture and apply started again against ANOTHER dev broker (a second one
// whose address replaced the first one's, or a restarted one). That is what
// produced "the stored position 5606 is beyond the log end offset 5586" with
// "group committed none": the new broker is empty, capture resends only its
// unconfirmed transaction (up to the flow-control bound), and apply's stored
// positions point past it (tests/unit/transport/position_beyond_log_end_test.cpp
// shows that one dev broker loses neither acknowledged events nor offsets).
// Capture's confirmed LSN is then past events that no longer exist: capture
// must refuse such a cluster until told nothing was lost.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string StartDevBroker(ChildProcess& p, const std::string& dir) {
  const std::string file = dir + "/bootstrap2";
  if (!p.Start({FerryBinary(), "dev-broker", "--bootstrap-file", file}, dir + "/broker2.log")) return "";
  std::string address;
  for (int i = 0; i < 200 && address.empty(); ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    std::ifstream(file) >> address;
  }
  return address;
}

TEST(DevBrokerRestartE2eTest, CaptureRefusesAnotherDevBrokerAndApplyReadsTheNewOneFromItsStart) {
  auto started = Pipeline::Start("restart");
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  auto& pl = **started;
  pl.CreateOnBoth("CREATE TABLE keyed (id bigint PRIMARY KEY, v text)");
  ASSERT_TRUE(pl.StartApply({"--group", "acc-apply", "--topic-prefix", "acc"}));
  // One event per row (--transaction-events row): the large transaction below
  // is then slow enough to be cut short (as batches it would be applied whole
  // within the few seconds the test waits).
  ASSERT_TRUE(pl.StartCapture({"--topic-prefix", "acc", "--snapshot", "never", "--flow-control-max-bytes", "65536",
                               "--flow-control-group", "acc-apply", "--transaction-events", "row"}));
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();
  // Confirmed and applied: 800 small transactions; then one large one that
  // flow control cuts short (apply applies what arrived; nothing of it is confirmed).
  pl.source().Sql("DO $$ BEGIN FOR i IN 1..800 LOOP INSERT INTO keyed VALUES (i, 'small'); COMMIT; END LOOP; END $$");
  ASSERT_TRUE(pl.WaitConverged("keyed", "id", seconds(60))) << pl.capture().LogTail();
  pl.source().Sql("INSERT INTO keyed SELECT g, repeat('x', 300) FROM generate_series(1001, 80000) g");
  ASSERT_TRUE(WaitLog(pl.capture(), "flow control: pausing", seconds(60))) << pl.capture().LogTail();
  std::this_thread::sleep_for(seconds(3));  // apply applies what capture sent

  ChildProcess other;
  std::string brokers2 = StartDevBroker(other, pl.dir());
  ASSERT_FALSE(brokers2.empty()) << other.LogTail();
  pl.capture().Signal(SIGTERM);
  ASSERT_EQ(pl.capture().Wait(milliseconds(30000)), 0) << pl.capture().LogTail();
  std::vector<std::string> capture{FerryBinary(), "capture", "--source", pl.source().conninfo(), "--brokers",
                                   brokers2, "--state-dir", pl.dir() + "/state", "--topic-prefix", "acc",
                                   "--snapshot", "never", "--transaction-events", "row",
                                   "--flow-control-max-bytes", "16384", "--flow-control-group", "acc-apply"};
  ChildProcess refused;
  ASSERT_TRUE(refused.Start(capture, pl.dir() + "/capture2.log"));
  EXPECT_EQ(refused.Wait(milliseconds(30000)), 2) << refused.LogTail();
  EXPECT_NE(ReadLog(refused).find("but the positions of the capture of slot ferry were taken in cluster"),
            std::string::npos) << refused.LogTail();
  EXPECT_NE(ReadLog(refused).find("--new-kafka-cluster"), std::string::npos) << refused.LogTail();

  // Told to go on: what the report saw. Capture resends its unconfirmed
  // transaction into the empty broker, whose offsets start again at 0: apply's
  // stored position names the old cluster, so apply reads the new one from its
  // start and skips what the target holds by commit LSN.
  capture.push_back("--new-kafka-cluster");
  ChildProcess resumed;
  ASSERT_TRUE(resumed.Start(capture, pl.dir() + "/capture3.log"));
  ASSERT_TRUE(WaitLog(resumed, "flow control: pausing", seconds(60))) << resumed.LogTail();
  pl.apply().Signal(SIGTERM);
  ASSERT_EQ(pl.apply().Wait(milliseconds(30000)), 0) << pl.apply().LogTail();
  ChildProcess apply;
  ASSERT_TRUE(apply.Start({FerryBinary(), "apply", "--target", pl.target().conninfo(), "--brokers", brokers2,
                           "--state-dir", pl.dir() + "/state-apply", "--group", "acc-apply", "--topic-prefix", "acc",
                           "--create-tables", "--kafka-property", "session.timeout.ms=6000"},
                          pl.dir() + "/apply2.log"));
  EXPECT_TRUE(WaitLog(apply, "was recorded on Kafka cluster", seconds(60))) << apply.LogTail();
  // The tight bound only served to cut the large transaction short.
  resumed.Signal(SIGTERM);
  ASSERT_EQ(resumed.Wait(milliseconds(30000)), 0) << resumed.LogTail();
  capture.erase(std::find(capture.begin(), capture.end(), "--flow-control-max-bytes"), capture.end() - 3);
  ChildProcess again;
  ASSERT_TRUE(again.Start(capture, pl.dir() + "/capture4.log"));
  auto deadline = std::chrono::steady_clock::now() + seconds(120);
  while (!pl.Diff("keyed", "id").empty() && apply.running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(250));
  }
  EXPECT_EQ(pl.Diff("keyed", "id"), "") << apply.LogTail() << again.LogTail();
  EXPECT_TRUE(apply.running()) << apply.LogTail();
  apply.Signal(SIGTERM);
  apply.Wait(milliseconds(30000));
  again.Signal(SIGTERM);
  again.Wait(milliseconds(30000));
}

}  // namespace
}  // namespace ferry::testing
