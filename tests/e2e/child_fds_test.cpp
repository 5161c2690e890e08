// A test that hosts the dev broker in its own process (Pipeline's
// in_process_broker) holds the broker's sockets. A child holding copies of them
// (capture, apply, pgbench, a PostgreSQL server started by pg_ctl) keeps a
// connection the broker closed open for the client at the other end: a "broker
// down" fault then looks like a broker that hangs, and the client waits out its
// 60 s socket timeout (found by the chaos suite, seed 303: capture stalled for
// minutes after the broker came back). Children must inherit stdin, stdout and
// stderr only.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/pg_cluster.h"
#include "tests/support/process.h"
#include "transport/dev_broker.h"

namespace ferry::testing {
namespace {

TEST(ChildFdsTest, ChildrenOfATestHostingTheDevBrokerInheritOnlyStdio) {
  auto broker = transport::DevBroker::Start({});
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();

  // The shell lists its own descriptors.
  ShellResult shell = RunShellCommand("ls /proc/$$/fd");
  EXPECT_EQ(shell.status, 0);
  EXPECT_EQ(shell.out, "0\n1\n2\n");

  TempDir dir("child-fds");
  ChildProcess child;
  ASSERT_TRUE(child.Start({"/bin/sh", "-c", "ls /proc/$$/fd"}, dir.path() + "/ls.log"));
  EXPECT_EQ(child.Wait(std::chrono::seconds(10)), 0);
  EXPECT_EQ(ReadLog(child), "0\n1\n2\n");
}

}  // namespace
}  // namespace ferry::testing
