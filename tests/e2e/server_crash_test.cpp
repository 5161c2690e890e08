// The servers crash, not ferry: `pg_ctl stop -m immediate` of the target, then
// of the source, in the middle of a workload. Apply must never have recorded as
// applied what the target lost; capture must resume although a crashed source
// can move its slot back. The target ends equal to the source.
#include <gtest/gtest.h>

#include <thread>

#include "tests/e2e/workload.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

void ExpectConverged(Pipeline& pl) {
  for (const auto& [table, order] : kWorkloadTables) {
    EXPECT_TRUE(pl.WaitConverged(table, order, seconds(120)))
        << pl.Diff(table, order) << "\ncapture log:\n" << pl.capture().LogTail()
        << "\napply log:\n" << pl.apply().LogTail();
  }
}

TEST(ServerCrashTest, TargetImmediateShutdownMidWorkloadLosesNothing) {
  auto p = Pipeline::Start("dstcrash");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.CreateOnBoth(kWorkloadSchema);
  ASSERT_TRUE(pl.StartApply());
  ASSERT_TRUE(pl.StartCapture());
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();

  Workload w(pl.source());
  w.Start();
  std::this_thread::sleep_for(seconds(3));
  ASSERT_TRUE(pl.target().Stop("immediate").ok());
  std::this_thread::sleep_for(seconds(2));
  ASSERT_TRUE(pl.target().Restart().ok());
  std::this_thread::sleep_for(seconds(2));
  w.Stop();
  ASSERT_EQ(w.error(), "");
  EXPECT_TRUE(pl.apply().running()) << "apply retries a lost target:\n" << pl.apply().LogTail();
  ExpectConverged(pl);
}

TEST(ServerCrashTest, SourceImmediateShutdownMidWorkloadLosesNothing) {
  auto p = Pipeline::Start("srccrash");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.CreateOnBoth(kWorkloadSchema);
  ASSERT_TRUE(pl.StartApply());
  ASSERT_TRUE(pl.StartCapture());
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();

  Workload w(pl.source(), /*tolerate_outage=*/true);
  w.Start();
  std::this_thread::sleep_for(seconds(3));
  ASSERT_TRUE(pl.source().Stop("immediate").ok());
  std::this_thread::sleep_for(seconds(2));
  ASSERT_TRUE(pl.source().Restart().ok());
  std::this_thread::sleep_for(seconds(3));
  w.Stop();
  ASSERT_EQ(w.error(), "");
  EXPECT_TRUE(pl.capture().running()) << "capture retries a lost source:\n" << pl.capture().LogTail();
  ExpectConverged(pl);
}

}  // namespace
}  // namespace ferry::testing
