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

}  // namespace
}  // namespace ferry::testing
