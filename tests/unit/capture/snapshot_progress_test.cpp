// SnapshotProgress over a real RocksDB: what a restarted capture reads back.
#include "capture/snapshot_progress.h"

#include <gtest/gtest.h>

#include "tests/support/pg_cluster.h"

namespace ferry::capture {
namespace {

using ::ferry::testing::TempDir;

TableProgress Entry(std::string table, std::optional<KeyValues> last_key, int64_t rows, int64_t chunks, int part = 0) {
  TableProgress p;
  p.schema = "public";
  p.table = std::move(table);
  p.last_key = std::move(last_key);
  p.rows = rows;
  p.chunks = chunks;
  p.part = part;
  return p;
}

TEST(SnapshotProgressTest, EncodingRoundTrips) {
  TableProgress p = Entry("t", KeyValues{"it's", "42"}, 1234, 7, 3);
  p.schema = "s";
  p.upper = KeyValues{"z", "9"};
  p.skip_before = Lsn(0x1A2B3C4);
  auto back = DecodeTableProgress(EncodeTableProgress(p));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->Display(), "s.t");
  EXPECT_EQ(back->Id(), "s.t#3");
  EXPECT_EQ(back->upper, p.upper);
  EXPECT_EQ(*back->last_key, p.last_key);
  EXPECT_EQ(back->rows, 1234);
  EXPECT_EQ(back->chunks, 7);
  EXPECT_EQ(back->skip_before, p.skip_before);
  EXPECT_FALSE(DecodeTableProgress("{\"schema\":1}").ok());
  // Written before skip points existed: nothing to skip.
  auto old = DecodeTableProgress(R"({"schema":"s","table":"t","last_key":["5"],"rows":5,"chunks":1,"done":false})");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->skip_before, Lsn());
  EXPECT_EQ(old->part, 0);
  EXPECT_FALSE(old->upper.has_value());
}

TEST(SnapshotProgressTest, SurvivesReopenPerSlotAndANewInitialCopyForgetsTheOld) {
  TempDir tmp("snapprog");
  {
    auto store = checkpoint::RocksPositionStore::Open(tmp.path());
    ASSERT_TRUE(store.ok());
    SnapshotProgress a(**store, "a"), ab(**store, "ab");
    ASSERT_TRUE(a.BeginInitial().ok());
    ASSERT_TRUE(a.Put({Entry("t1", KeyValues{"10"}, 10, 1), Entry("t2", std::nullopt, 0, 0)}).ok());
    ASSERT_TRUE(a.Put({Entry("t1", KeyValues{"20"}, 20, 2)}).ok());  // later chunk wins
    ASSERT_TRUE(ab.Put({Entry("other", std::nullopt, 0, 0)}).ok());
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

// A table planned again loses every part it had, and only its own: not those
// of a table whose name starts like it.
TEST(SnapshotProgressTest, ReplaceForgetsEveryPartOfATableAndOnlyItsOwn) {
  TempDir tmp("snapprog-parts");
  auto store = checkpoint::RocksPositionStore::Open(tmp.path());
  ASSERT_TRUE(store.ok());
  SnapshotProgress a(**store, "a");
  ASSERT_TRUE(a.Put({Entry("t", std::nullopt, 5, 1, 0), Entry("t", KeyValues{"100"}, 7, 1, 1),
                     Entry("t", KeyValues{"200"}, 0, 0, 2), Entry("t2", std::nullopt, 3, 1)})
                  .ok());
  auto tables = a.Tables();
  ASSERT_TRUE(tables.ok());
  ASSERT_EQ(tables->size(), 4u);
  EXPECT_EQ(*(*tables)["public.t#1"].last_key, KeyValues{"100"});
  ASSERT_TRUE(a.Replace({Entry("t", std::nullopt, 0, 0)}, {Entry("t", std::nullopt, 0, 0)}).ok());
  tables = a.Tables();
  ASSERT_TRUE(tables.ok());
  ASSERT_EQ(tables->size(), 2u);
  EXPECT_TRUE(tables->contains("public.t"));
  EXPECT_EQ((*tables)["public.t"].rows, 0);
  EXPECT_EQ((*tables)["public.t2"].rows, 3);
}

}  // namespace
}  // namespace ferry::capture
