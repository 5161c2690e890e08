// A batch reported OK survives the target crashing right after
// (pg_ctl stop -m immediate: no shutdown checkpoint, WAL replay on restart).
#include <gtest/gtest.h>

#include "apply/target_writer.h"
#include "tests/unit/apply/apply_test_support.h"

namespace ferry::apply {
namespace {

using testing::Event;

TEST(TargetWriterDurabilityTest, OkBatchSurvivesImmediateShutdown) {
  // Its own cluster: the shared one must keep running.
  auto cluster = ferry::testing::PgCluster::Start("apply-crash", /*logical=*/false);
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  (*cluster)->Sql("CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, v text)");
  auto writer = TargetWriter::Connect((*cluster)->conninfo(), {});
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();

  std::vector<ferry::v1::ChangeEvent> batch;
  for (int i = 0; i < 1000; ++i) {
    batch.push_back(Event("app", "t", ferry::v1::OP_INSERT)
                        .Key({"id"})
                        .Text("id", std::to_string(i))
                        .Text("v", "x"));
  }
  ASSERT_TRUE((*writer)->ApplyBatch(batch).ok());
  ASSERT_TRUE((*cluster)->Stop("immediate").ok());
  ASSERT_TRUE((*cluster)->Restart().ok());
  EXPECT_EQ((*cluster)->Sql("SELECT count(*) FROM app.t"), "1000");

  // The old connection died with the server: retriable, and a new writer works.
  Status lost = (*writer)->ApplyBatch(batch);
  EXPECT_TRUE(lost.IsRetriable()) << lost.ToString();
  auto again = TargetWriter::Connect((*cluster)->conninfo(), {});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE((*again)->ApplyBatch(batch).ok());
  EXPECT_EQ((*cluster)->Sql("SELECT count(*) FROM app.t"), "1000");
}

}  // namespace
}  // namespace ferry::apply
