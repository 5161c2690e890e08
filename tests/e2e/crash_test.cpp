// kill -9 apply, then capture, in the middle of a running workload; restart
// both: the target equals the source, nothing lost, nothing doubled.
#include <gtest/gtest.h>

#include <thread>

#include "tests/e2e/workload.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

using CrashTest = WorkloadPipelineTest;

TEST_F(CrashTest, KillNineApplyThenCaptureMidWorkloadLosesAndDoublesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartPipeline("crash"));
  Workload w(pl_->source());
  w.Start();
  std::this_thread::sleep_for(seconds(3));
  pl_->apply().Kill();
  std::this_thread::sleep_for(seconds(1));
  pl_->capture().Kill();
  int64_t at_kill = w.transactions();
  std::this_thread::sleep_for(seconds(1));
  ASSERT_TRUE(pl_->StartCapture());
  ASSERT_TRUE(pl_->StartApply());
  std::this_thread::sleep_for(seconds(3));
  w.Stop();
  ASSERT_EQ(w.error(), "");
  ASSERT_GT(at_kill, 100) << "the workload should have been running when the processes died";
  ASSERT_GT(w.transactions(), at_kill) << "the workload should have gone on after the crash";
  ExpectConverged();
}

}  // namespace
}  // namespace ferry::testing
