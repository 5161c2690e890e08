// Several apply processes in one consumer group split the partitions; when one
// dies, the other takes its partitions over from the group's committed offsets
// (its own RocksDB has never seen them) and the target still equals the source.
#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "tests/e2e/workload.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

using ApplyGroupTest = WorkloadPipelineTest;

TEST_F(ApplyGroupTest, TwoMembersSplitPartitionsAndSurviveOneDying) {
  ASSERT_NO_FATAL_FAILURE(StartPipeline("group"));
  ASSERT_TRUE(pl_->StartSecondApply());
  Workload w(pl_->source());
  w.Start();
  // Both members take part: each logs the partitions it is given. On the dev
  // broker a joining member waits about session.timeout.ms for the rebalance.
  auto assigned = [](ChildProcess& p) { return p.LogTail(400).find("starting at offset") != std::string::npos; };
  for (int i = 0; i < 300 && !(assigned(pl_->apply()) && assigned(pl_->second_apply())); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(assigned(pl_->apply())) << pl_->apply().LogTail();
  ASSERT_TRUE(assigned(pl_->second_apply())) << pl_->second_apply().LogTail();
  std::this_thread::sleep_for(seconds(2));  // the second member applies and commits some
  pl_->second_apply().Kill();
  std::this_thread::sleep_for(seconds(3));
  w.Stop();
  ASSERT_EQ(w.error(), "");
  ExpectConverged();
  // The survivor resumed the dead member's partitions from the group's offsets.
  EXPECT_TRUE(std::regex_search(pl_->apply().LogTail(400), std::regex("stored none, group committed [0-9]+")))
      << pl_->apply().LogTail(400);
}

}  // namespace
}  // namespace ferry::testing
