// kill -9 apply, then capture, in the middle of a running workload; restart
// both: the target equals the source, nothing lost, nothing doubled.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "tests/e2e/workload.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(CrashTest, KillNineApplyThenCaptureMidWorkloadLosesAndDoublesNothing) {
  auto p = Pipeline::Start("crash");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.CreateOnBoth(kWorkloadSchema);
  ASSERT_TRUE(pl.StartApply());
  ASSERT_TRUE(pl.StartCapture());
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();

  Workload w(pl.source());
  w.Start();
  std::this_thread::sleep_for(seconds(3));
  pl.apply().Kill();
  std::this_thread::sleep_for(seconds(1));
  pl.capture().Kill();
  int64_t at_kill = w.transactions();
  std::this_thread::sleep_for(seconds(1));
  ASSERT_TRUE(pl.StartCapture());
  ASSERT_TRUE(pl.StartApply());
  std::this_thread::sleep_for(seconds(3));
  w.Stop();
  ASSERT_EQ(w.error(), "");
  ASSERT_GT(at_kill, 100) << "the workload should have been running when the processes died";
  ASSERT_GT(w.transactions(), at_kill) << "the workload should have gone on after the crash";

  for (const auto& [table, order] : kWorkloadTables) {
    EXPECT_TRUE(pl.WaitConverged(table, order, seconds(120)))
        << pl.Diff(table, order) << "\ncapture log:\n" << pl.capture().LogTail()
        << "\napply log:\n" << pl.apply().LogTail();
  }
}

}  // namespace
}  // namespace ferry::testing
