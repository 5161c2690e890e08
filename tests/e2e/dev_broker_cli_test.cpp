// `ferry dev-broker` as users and scripts call it: the bootstrap address is the
// first line of stdout, also written to --bootstrap-file, and SIGTERM ends it.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <thread>

#include "tests/support/pg_cluster.h"
#include "tests/support/process.h"
#include "transport/cluster_info.h"

namespace ferry::testing {
namespace {

TEST(DevBrokerCliTest, PrintsBootstrapFirstAndStopsOnSigterm) {
  TempDir dir("devbroker");
  const std::string file = dir.path() + "/bootstrap", out = dir.path() + "/out";
  ChildProcess broker;
  // exec: the shell only redirects stdout to its own file, then becomes the broker.
  ASSERT_TRUE(broker.Start({"/bin/sh", "-c",
                            "exec " + FerryBinary() + " dev-broker --partitions 3 --bootstrap-file " + file +
                                " 2>" + dir.path() + "/err >" + out},
                           dir.path() + "/log"));
  std::string first_line, from_file;
  for (int i = 0; i < 200 && (first_line.empty() || from_file.empty()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream(out) >> first_line;
    std::ifstream(file) >> from_file;
  }
  ASSERT_FALSE(first_line.empty());
  EXPECT_EQ(first_line.rfind("127.0.0.1:", 0), 0u) << first_line;
  EXPECT_EQ(first_line, from_file);
  auto id = transport::FetchClusterId({first_line, {}}, 5000);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_TRUE(transport::IsDevBrokerClusterId(*id)) << *id;
  broker.Signal(SIGTERM);
  EXPECT_EQ(broker.Wait(std::chrono::milliseconds(15000)), 0);
}

std::string FirstLine(const std::string& path) {
  std::string line;
  std::ifstream(path) >> line;
  return line;
}

// Issue 12, item 3: capture and apply restarted against the bootstrap file
// met an empty cluster when a second dev broker had replaced the first one's
// address there. A second dev broker refuses the file while the first answers;
// a killed one's stale file is taken over, saying what was lost.
TEST(DevBrokerCliTest, ASecondDevBrokerRefusesTheBootstrapFileOfOneThatRuns) {
  TempDir dir("devbroker2");
  const std::string file = dir.path() + "/bootstrap";
  ChildProcess first;
  ASSERT_TRUE(first.Start({FerryBinary(), "dev-broker", "--bootstrap-file", file}, dir.path() + "/first.log"));
  for (int i = 0; i < 200 && FirstLine(file).empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const std::string address = FirstLine(file);
  ASSERT_FALSE(address.empty());

  ChildProcess second;
  ASSERT_TRUE(second.Start({FerryBinary(), "dev-broker", "--bootstrap-file", file}, dir.path() + "/second.log"));
  EXPECT_EQ(second.Wait(std::chrono::milliseconds(15000)), 2) << second.LogTail();
  EXPECT_NE(ReadLog(second).find("another dev broker is running"), std::string::npos) << second.LogTail();
  EXPECT_EQ(FirstLine(file), address) << "the running dev broker's address was replaced";

  first.Kill();  // leaves its file behind
  ChildProcess third;
  ASSERT_TRUE(third.Start({FerryBinary(), "dev-broker", "--bootstrap-file", file}, dir.path() + "/third.log"));
  EXPECT_TRUE(WaitLog(third, "no dev broker answers any more", std::chrono::seconds(15))) << third.LogTail();
  for (int i = 0; i < 200 && FirstLine(file) == address; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_NE(FirstLine(file), address);
  EXPECT_TRUE(third.running());
}

}  // namespace
}  // namespace ferry::testing
