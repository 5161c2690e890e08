// Several apply processes in one consumer group: the changes topic has one
// partition, so one applies and the others wait as hot standbys. When the
// active one dies (kill -9) under load, a standby is assigned the partition,
// resumes right after the position the target committed (its own state has
// never seen it), and the target ends equal to the source: nothing lost,
// nothing applied twice.
#include <gtest/gtest.h>

#include <thread>

#include "tests/e2e/workload.h"
#include "tests/support/eventually.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

using ApplyGroupTest = WorkloadPipelineTest;

bool Assigned(ChildProcess& p) { return p.LogTail(400).find("assigned ferry.changes[0]") != std::string::npos; }

TEST_F(ApplyGroupTest, StandbyTakesOverWhenTheActiveApplyIsKilled) {
  ASSERT_NO_FATAL_FAILURE(StartPipeline("group"));
  ASSERT_TRUE(pl_->StartSecondApply());
  Workload w(pl_->source());
  w.Start();
  ASSERT_TRUE(Eventually([&] { return Assigned(pl_->apply()) || Assigned(pl_->second_apply()); }, seconds(60)))
      << pl_->apply().LogTail() << pl_->second_apply().LogTail();
  const bool first_active = Assigned(pl_->apply());
  ChildProcess& active = first_active ? pl_->apply() : pl_->second_apply();
  ChildProcess& standby = first_active ? pl_->second_apply() : pl_->apply();
  std::this_thread::sleep_for(seconds(2));  // the active one applies and commits some
  EXPECT_FALSE(Assigned(standby)) << "one partition, one member applying: " << standby.LogTail();
  active.Kill();
  auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(Eventually([&] { return Assigned(standby); }, seconds(60))) << standby.LogTail();
  std::cout << "standby assigned "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count()
            << " s after kill -9 of the active apply (session.timeout.ms=6000)\n";
  std::this_thread::sleep_for(seconds(3));
  w.Stop();
  ASSERT_EQ(w.error(), "");
  // The survivor is the one running: converge against it.
  if (first_active) {
    ASSERT_TRUE(pl_->StartApply());  // the fixture checks apply(); a restarted member is a standby again
  }
  ExpectConverged();
  EXPECT_NE(standby.LogTail(400).find("resuming after commit LSN"), std::string::npos)
      << "it resumed from the position the target holds: " << standby.LogTail(400);
}

}  // namespace
}  // namespace ferry::testing
