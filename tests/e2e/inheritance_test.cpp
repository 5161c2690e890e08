// An inheritance parent and its child are two tables, published and replicated
// each as itself: every row is copied once, into its own table, by the initial
// and by an incremental snapshot. The target's tables are plain ones (as
// --create-tables makes them), so a child's row copied through its parent
// would show as an extra parent row there.
#include <gtest/gtest.h>

#include "tests/support/eventually.h"
#include "tests/support/ferry_command.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

class InheritanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = Pipeline::Start("inherit");
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    pl_ = std::move(p).value();
    pl_->source().Sql("CREATE TABLE parent (id int PRIMARY KEY, v text)");
    pl_->source().Sql("CREATE TABLE child (extra int, PRIMARY KEY (id)) INHERITS (parent)");
    pl_->target().Sql("CREATE TABLE parent (id int PRIMARY KEY, v text)");
    pl_->target().Sql("CREATE TABLE child (id int PRIMARY KEY, v text, extra int)");
    pl_->source().Sql("INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 100) g");
    pl_->source().Sql("INSERT INTO child SELECT g, 'c' || g, g FROM generate_series(1001, 1050) g");
  }
  // Both tables equal on both sides, each with its own rows only.
  void ExpectEachRowOnce() {
    EXPECT_TRUE(pl_->WaitConverged("ONLY parent", "id", seconds(60)))
        << pl_->Diff("ONLY parent", "id") << pl_->capture().LogTail();
    EXPECT_TRUE(pl_->WaitConverged("child", "id", seconds(60))) << pl_->Diff("child", "id");
    EXPECT_EQ(pl_->target().Sql("SELECT count(*) FROM parent"), "100");
    EXPECT_EQ(pl_->target().Sql("SELECT count(*) FROM child"), "50");
  }
  std::unique_ptr<Pipeline> pl_;
};

TEST_F(InheritanceTest, SnapshotsCopyEachRowOnceIntoItsOwnTable) {
  ASSERT_TRUE(pl_->StartApply());
  ASSERT_TRUE(pl_->StartCapture());
  ASSERT_NO_FATAL_FAILURE(ExpectEachRowOnce());

  // An incremental snapshot of the parent reads the parent's rows only.
  FerryRun request = RunFerry({"snapshot", "--source", pl_->source().conninfo(), "--table", "public.parent"},
                              pl_->dir() + "/snapshot.log");
  ASSERT_EQ(request.exit_code, 0) << ReadWholeFile(pl_->dir() + "/snapshot.log");
  ASSERT_TRUE(Eventually(
      [&] {
        return ReadWholeFile(pl_->capture().log_path()).find("incremental snapshot of public.parent read") !=
               std::string::npos;
      },
      seconds(60)))
      << pl_->capture().LogTail();
  EXPECT_NE(ReadWholeFile(pl_->capture().log_path()).find("incremental snapshot of public.parent read: 100 rows"),
            std::string::npos)
      << pl_->capture().LogTail();
  ASSERT_NO_FATAL_FAILURE(ExpectEachRowOnce());
}

}  // namespace
}  // namespace ferry::testing
