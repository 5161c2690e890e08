// SnapshotProgress over a real RocksDB: what a restarted capture reads back.
#include "capture/snapshot_progress.h"

#include <gtest/gtest.h>

#include "tests/support/pg_cluster.h"

namespace ferry::capture {
namespace {

using ::ferry::testing::TempDir;

TEST(SnapshotProgressTest, EncodingRoundTrips) {
  TableProgress p{"s", "t", KeyValues{"it's", "42"}, 1234, 7, false};
  auto back = DecodeTableProgress(EncodeTableProgress(p));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->Display(), "s.t");
  EXPECT_EQ(*back->last_key, p.last_key);
  EXPECT_EQ(back->rows, 1234);
  EXPECT_EQ(back->chunks, 7);
  EXPECT_FALSE(DecodeTableProgress("{\"schema\":1}").ok());
}

TEST(SnapshotProgressTest, SurvivesReopenPerSlotAndANewInitialCopyForgetsTheOld) {
  TempDir tmp("snapprog");
  {
    auto store = checkpoint::RocksPositionStore::Open(tmp.path());
    ASSERT_TRUE(store.ok());
    SnapshotProgress a(**store, "a"), ab(**store, "ab");
    ASSERT_TRUE(a.BeginInitial().ok());
    ASSERT_TRUE(a.Put({{"public", "t1", KeyValues{"10"}, 10, 1, false}, {"public", "t2", std::nullopt, 0, 0, false}}).ok());
    ASSERT_TRUE(a.Put({{"public", "t1", KeyValues{"20"}, 20, 2, false}}).ok());  // later chunk wins
    ASSERT_TRUE(ab.Put({{"public", "other", std::nullopt, 0, 0, false}}).ok());
  }
  auto store = checkpoint::RocksPositionStore::Open(tmp.path());
  ASSERT_TRUE(store.ok());
  SnapshotProgress a(**store, "a");
  EXPECT_EQ(a.InitialState().value(), std::optional<std::string>("running"));
  auto tables = a.Tables();
  ASSERT_TRUE(tables.ok());
  ASSERT_EQ(tables->size(), 2u) << "slot ab's entries are not slot a's";
  EXPECT_EQ(*(*tables)["public.t1"].last_key, KeyValues{"20"});
  EXPECT_EQ((*tables)["public.t1"].chunks, 2);
  ASSERT_TRUE(a.Remove({(*tables)["public.t2"]}).ok());
  EXPECT_EQ(a.Tables()->size(), 1u);
  ASSERT_TRUE(a.BeginInitial().ok());  // a new slot of the same name starts over
  EXPECT_TRUE(a.Tables()->empty());
  EXPECT_EQ(SnapshotProgress(**store, "ab").Tables()->size(), 1u);
}

}  // namespace
}  // namespace ferry::capture
