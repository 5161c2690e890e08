// The servers crash, not ferry: `pg_ctl stop -m immediate` of the target, then
// of the source, in the middle of a workload. Apply must never have recorded as
// applied what the target lost; capture must resume although a crashed source
// can move its slot back. The target ends equal to the source.
#include <gtest/gtest.h>

#include <thread>

#include "tests/e2e/workload.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

using ServerCrashTest = WorkloadPipelineTest;

TEST_F(ServerCrashTest, TargetImmediateShutdownMidWorkloadLosesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartPipeline("dstcrash"));
  Workload w(pl_->source());
  w.Start();
  std::this_thread::sleep_for(seconds(3));
  ASSERT_TRUE(pl_->target().Stop("immediate").ok());
  std::this_thread::sleep_for(seconds(2));
  ASSERT_TRUE(pl_->target().Restart().ok());
  std::this_thread::sleep_for(seconds(2));
  w.Stop();
  ASSERT_EQ(w.error(), "");
  EXPECT_TRUE(pl_->apply().running()) << "apply retries a lost target:\n" << pl_->apply().LogTail();
  ExpectConverged();
}

TEST_F(ServerCrashTest, SourceImmediateShutdownMidWorkloadLosesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartPipeline("srccrash"));
  Workload w(pl_->source(), /*tolerate_outage=*/true);
  w.Start();
  std::this_thread::sleep_for(seconds(3));
  ASSERT_TRUE(pl_->source().Stop("immediate").ok());
  std::this_thread::sleep_for(seconds(2));
  ASSERT_TRUE(pl_->source().Restart().ok());
  std::this_thread::sleep_for(seconds(3));
  w.Stop();
  ASSERT_EQ(w.error(), "");
  EXPECT_TRUE(pl_->capture().running()) << "capture retries a lost source:\n" << pl_->capture().LogTail();
  ExpectConverged();
}

}  // namespace
}  // namespace ferry::testing
