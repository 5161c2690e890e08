// FailureStore against a real RocksDB directory: park order per row,
// park-once per message, persistence across reopen, a secondary reader while
// the writer holds the lock, and damaged records.
#include <gtest/gtest.h>

#include "checkpoint/failure_store.h"
#include "tests/support/pg_cluster.h"

namespace ferry::checkpoint {
namespace {

using ::ferry::testing::TempDir;
using namespace std::string_literals;

ParkedEvent Record(const std::string& row, int64_t offset, const std::string& payload = "p") {
  ParkedEvent r;
  r.row = row;
  r.description = "UPDATE on t, key " + row;
  r.source = {"ferry.public.t", 2};
  r.offset = offset;
  r.payload = payload;
  r.error = "rejected";
  r.attempts = 1;
  r.first_seen_us = r.last_seen_us = 1700000000000000 + offset;
  return r;
}

std::unique_ptr<FailureStore> MustOpen(const std::string& dir) {
  auto store = FailureStore::Open(dir);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

std::vector<int64_t> OffsetsOf(FailureStore& store) {
  std::vector<int64_t> out;
  auto records = store.List();
  EXPECT_TRUE(records.ok()) << records.status().ToString();
  if (!records.ok()) return out;
  for (const auto& r : records.value()) out.push_back(r.offset);
  return out;
}

TEST(FailureStoreTest, ListsInParkOrderAndTracksRows) {
  TempDir tmp("fail");
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  std::vector<ParkedEvent> first{Record("t\0{\"id\":\"1\"}"s, 10), Record("t\0{\"id\":\"2\"}"s, 11)};
  ASSERT_TRUE(store->Park(&first).ok());
  std::vector<ParkedEvent> second{Record("t\0{\"id\":\"1\"}"s, 12)};
  ASSERT_TRUE(store->Park(&second).ok());
  EXPECT_LT(first[0].id, first[1].id);
  EXPECT_LT(first[1].id, second[0].id);
  EXPECT_EQ(OffsetsOf(*store), (std::vector<int64_t>{10, 11, 12}));
  EXPECT_EQ(store->Count(), 3u);
  EXPECT_TRUE(store->IsParked("t\0{\"id\":\"1\"}"s));
  EXPECT_TRUE(store->AnyParkedWithPrefix("t"));
  EXPECT_FALSE(store->AnyParkedWithPrefix("u"));

  ASSERT_TRUE(store->Remove(first[0].id).ok());
  EXPECT_TRUE(store->IsParked("t\0{\"id\":\"1\"}"s)) << "its second record is still parked";
  ASSERT_TRUE(store->Remove(second[0].id).ok());
  EXPECT_FALSE(store->IsParked("t\0{\"id\":\"1\"}"s));
  EXPECT_TRUE(store->Remove(second[0].id).IsNotFound());
  EXPECT_EQ(store->Count(), 1u);
}

TEST(FailureStoreTest, AMessageIsParkedOnceEvenWhenReadAgainAfterACrash) {
  TempDir tmp("fail");
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  std::vector<ParkedEvent> batch{Record("a", 5), Record("b", 6)};
  ASSERT_TRUE(store->Park(&batch).ok());
  std::vector<ParkedEvent> again{Record("a", 5), Record("b", 6), Record("c", 7)};
  ASSERT_TRUE(store->Park(&again).ok());
  EXPECT_EQ(again[0].id, batch[0].id);
  EXPECT_EQ(again[1].id, batch[1].id);
  EXPECT_EQ(OffsetsOf(*store), (std::vector<int64_t>{5, 6, 7}));
}

TEST(FailureStoreTest, RecordsAndIdsSurviveReopen) {
  TempDir tmp("fail");
  uint64_t kept_id = 0;
  {
    auto store = MustOpen(tmp.path());
    ASSERT_NE(store, nullptr);
    std::vector<ParkedEvent> batch{Record("a", 1, std::string("\0\xff raw", 6)), Record("b", 2)};
    ASSERT_TRUE(store->Park(&batch).ok());
    ASSERT_TRUE(store->RecordAttempt(batch[0].id, "still rejected", 1800000000000000).ok());
    ASSERT_TRUE(store->Remove(batch[1].id).ok());
    kept_id = batch[0].id;
  }
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Count(), 1u);
  EXPECT_TRUE(store->IsParked("a"));
  auto r = store->Get(kept_id);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->payload, std::string("\0\xff raw", 6));
  EXPECT_EQ(r->attempts, 2u);
  EXPECT_EQ(r->error, "still rejected");
  EXPECT_EQ(r->last_seen_us, 1800000000000000);
  EXPECT_EQ(r->source.partition, 2);
  std::vector<ParkedEvent> later{Record("c", 3)};
  ASSERT_TRUE(store->Park(&later).ok());
  EXPECT_GT(later[0].id, kept_id + 1) << "ids are never reused, not even a removed one's";
}

TEST(FailureStoreTest, SecondReaderSeesTheWritersRecordsWithoutItsLock) {
  TempDir tmp("fail");
  auto writer = MustOpen(tmp.path() + "/store");
  ASSERT_NE(writer, nullptr);
  auto locked = FailureStore::Open(tmp.path() + "/store");
  ASSERT_FALSE(locked.ok());
  EXPECT_TRUE(locked.status().IsRetriable()) << locked.status().ToString();

  std::vector<ParkedEvent> batch{Record("a", 1), Record("a", 2)};
  ASSERT_TRUE(writer->Park(&batch).ok());
  auto reader = FailureStore::OpenReadOnly(tmp.path() + "/store", tmp.path() + "/reader");
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ(OffsetsOf(**reader), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ((*reader)->Count(), 2u);
  std::vector<ParkedEvent> more{Record("b", 3)};
  EXPECT_EQ((*reader)->Park(&more).code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(FailureStore::OpenReadOnly(tmp.path() + "/none", tmp.path() + "/r2").status().IsNotFound());
}

TEST(FailureStoreTest, DamagedRecordIsCorruptionNotADefault) {
  std::string bytes = EncodeRecord(Record("a", 1));
  ASSERT_TRUE(DecodeRecord(bytes).ok());
  EXPECT_TRUE(DecodeRecord(bytes.substr(0, bytes.size() - 1)).status().IsCorruption());
  EXPECT_TRUE(DecodeRecord(bytes + "x").status().IsCorruption());
  bytes[0] = 9;
  EXPECT_TRUE(DecodeRecord(bytes).status().IsCorruption());
}

}  // namespace
}  // namespace ferry::checkpoint
