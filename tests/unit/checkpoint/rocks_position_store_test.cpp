// RocksPositionStore against a real RocksDB directory: round trips, reopen,
// the single-process lock, corrupt values, and a child process killed right
// after a Put returns.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint/position_store.h"
#include "tests/support/pg_cluster.h"

namespace ferry::checkpoint {
namespace {

using ::ferry::testing::TempDir;

std::unique_ptr<RocksPositionStore> MustOpen(const std::string& dir) {
  auto store = RocksPositionStore::Open(dir);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

TEST(RocksPositionStoreTest, OffsetsRoundTrip) {
  TempDir tmp("pos");
  auto store = MustOpen(tmp.path() + "/store");
  ASSERT_NE(store, nullptr);
  TopicPartition a{"ferry.public.orders", 0}, b{"ferry.public.orders", 7};
  auto missing = store->GetOffset(a);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  ASSERT_TRUE(store->PutOffsets({{a, 42}, {b, int64_t{1} << 40}}).ok());
  EXPECT_EQ(store->GetOffset(a)->value_or(-1), 42);
  EXPECT_EQ(store->GetOffset(b)->value_or(-1), int64_t{1} << 40);
  ASSERT_TRUE(store->PutOffsets({{a, 43}}).ok());
  EXPECT_EQ(store->GetOffset(a)->value_or(-1), 43);
}

TEST(RocksPositionStoreTest, ProgressStoresOffsetAndLastAppliedTogetherAcrossReopen) {
  TempDir tmp("pos");
  TopicPartition a{"ferry.public.t", 3};
  {
    auto store = MustOpen(tmp.path());
    ASSERT_NE(store, nullptr);
    EXPECT_FALSE(store->GetLastApplied(a)->has_value());
    PartitionProgress p;
    p.next_offset = 17;
    p.last_applied = {Lsn(0x1234567890), 4000000000u};
    ASSERT_TRUE(store->PutProgress({{a, p}}).ok());
  }
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->GetOffset(a)->value_or(-1), 17);
  auto last = store->GetLastApplied(a);
  ASSERT_TRUE(last.ok() && last->has_value());
  EXPECT_EQ((*last)->commit_lsn, Lsn(0x1234567890));
  EXPECT_EQ((*last)->index, 4000000000u);
  EXPECT_EQ(store->AllOffsets()->size(), 1u) << "applied positions are not offsets";
}

TEST(RocksPositionStoreTest, LsnsRoundTrip) {
  TempDir tmp("pos");
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->GetLsn("slot_a")->has_value());
  ASSERT_TRUE(store->PutLsn("slot_a", Lsn(0x16B374D848)).ok());
  ASSERT_TRUE(store->PutLsn("slot_b", Lsn(1)).ok());
  EXPECT_EQ(store->GetLsn("slot_a")->value_or(Lsn()), Lsn(0x16B374D848));
  EXPECT_EQ(store->GetLsn("slot_b")->value_or(Lsn()), Lsn(1));
}

TEST(RocksPositionStoreTest, SourceHistoryIsStoredWithItsLsnAndSurvivesLsnUpdates) {
  TempDir tmp("pos");
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->PutLsn("slot", Lsn(5)).ok());
  EXPECT_FALSE(store->GetHistory("slot")->has_value()) << "an LSN stored without its history";
  const SourceHistory history{0xF00DCAFE12345678, 3};
  ASSERT_TRUE(store->PutLsnWithHistory("slot", Lsn(0x3000028), history).ok());
  EXPECT_EQ(store->GetLsn("slot")->value_or(Lsn()), Lsn(0x3000028));
  ASSERT_TRUE(store->PutLsn("slot", Lsn(0x3000100)).ok());
  EXPECT_EQ(store->GetLsn("slot")->value_or(Lsn()), Lsn(0x3000100));
  auto got = store->GetHistory("slot");
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status().ToString();
  EXPECT_EQ(**got, history);
  EXPECT_FALSE(store->GetHistory("other")->has_value());
}

TEST(RocksPositionStoreTest, AllOffsetsListsEveryPartitionAndNoLsns) {
  TempDir tmp("pos");
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  std::map<TopicPartition, int64_t> want{
      {{"t", 0}, 1}, {{"t", 1}, 2}, {{"t", 256}, 3}, {{"t.x", 0}, 4}, {{"u", 2}, 0}};
  ASSERT_TRUE(store->PutOffsets(want).ok());
  ASSERT_TRUE(store->PutLsn("slot", Lsn(9)).ok());
  auto all = store->AllOffsets();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(*all, want);
}

TEST(RocksPositionStoreTest, RejectsMalformedTopicPartition) {
  TempDir tmp("pos");
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->PutOffsets({{{"t", -1}, 1}}).ok());
  EXPECT_FALSE(store->PutOffsets({{{std::string("a\0b", 3), 0}, 1}}).ok());
}

TEST(RocksPositionStoreTest, ReopenKeepsPositions) {
  TempDir tmp("pos");
  std::string dir = tmp.path() + "/nested/store";
  {
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->PutOffsets({{{"t", 3}, 100}}).ok());
    ASSERT_TRUE(store->PutLsn("slot", Lsn(77)).ok());
  }
  auto store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->GetOffset({"t", 3})->value_or(-1), 100);
  EXPECT_EQ(store->GetLsn("slot")->value_or(Lsn()), Lsn(77));
}

TEST(RocksPositionStoreTest, SecondOpenOfSameDirectoryFailsClearly) {
  TempDir tmp("pos");
  auto first = MustOpen(tmp.path());
  ASSERT_NE(first, nullptr);
  auto second = RocksPositionStore::Open(tmp.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kIOError);
  EXPECT_NE(second.status().message().find(tmp.path()), std::string::npos)
      << second.status().ToString();
  EXPECT_NE(second.status().message().find("another ferry process"), std::string::npos)
      << second.status().ToString();
}

TEST(RocksPositionStoreTest, SecondOpenFromAnotherProcessFailsClearly) {
  TempDir tmp("pos");
  // Fork before the parent opens, so the child shares none of RocksDB's
  // in-process lock bookkeeping: only the LOCK file's fcntl lock stops it.
  int opened[2];
  ASSERT_EQ(pipe(opened), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(opened[1]);
    char byte = 0;
    if (read(opened[0], &byte, 1) != 1) _exit(2);
    auto second = RocksPositionStore::Open(tmp.path());
    bool clear = !second.ok() && second.status().code() == Status::Code::kIOError &&
                 second.status().message().find(tmp.path()) != std::string::npos &&
                 second.status().message().find("another ferry process") != std::string::npos;
    _exit(clear ? 0 : 1);
  }
  close(opened[0]);
  auto first = MustOpen(tmp.path());
  char byte = 1;
  EXPECT_EQ(write(opened[1], &byte, 1), 1);
  close(opened[1]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(RocksPositionStoreTest, WrongWidthValueIsCorruption) {
  TempDir tmp("pos");
  {
    auto store = MustOpen(tmp.path());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->PutOffsets({{{"t", 0}, 5}}).ok());
  }
  {
    // Damage the stored values behind the store's back.
    rocksdb::Options options;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, tmp.path(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put({}, std::string("apply/offset/t\0\0\0\0\0", 19), "short").ok());
    ASSERT_TRUE(db->Put({}, "capture/lsn/slot", "123456789").ok());
  }
  auto store = MustOpen(tmp.path());
  ASSERT_NE(store, nullptr);
  auto offset = store->GetOffset({"t", 0});
  ASSERT_FALSE(offset.ok());
  EXPECT_TRUE(offset.status().IsCorruption()) << offset.status().ToString();
  EXPECT_TRUE(store->AllOffsets().status().IsCorruption());
  EXPECT_TRUE(store->GetLsn("slot").status().IsCorruption());
}

// The child writes positions and dies without closing the store; `die` runs
// right after the last Put returns. Returns the child's wait status.
template <typename Die>
int WriteInChildThenDie(const std::string& dir, int rounds, Die die) {
  int ready[2];
  if (pipe(ready) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    auto store = RocksPositionStore::Open(dir);
    if (!store.ok()) _exit(10);
    for (int i = 1; i <= rounds; ++i) {
      if (!(*store)->PutOffsets({{{"t", 0}, i}, {{"t", 1}, i * 10}}).ok()) _exit(11);
    }
    if (!(*store)->PutLsn("slot", Lsn(rounds)).ok()) _exit(12);
    die(ready[1]);
    _exit(13);
  }
  close(ready[1]);
  char byte = 0;
  // Returns when the child signals it is done or exits.
  ssize_t n = read(ready[0], &byte, 1);
  if (n == 1) kill(pid, SIGKILL);
  close(ready[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

void ExpectChildPositions(const std::string& dir, int rounds) {
  auto store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  auto all = store->AllOffsets();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  std::map<TopicPartition, int64_t> want{{{"t", 0}, rounds}, {{"t", 1}, rounds * 10}};
  EXPECT_EQ(*all, want);
  EXPECT_EQ(store->GetLsn("slot")->value_or(Lsn()), Lsn(rounds));
}

TEST(RocksPositionStoreTest, PositionsSurviveChildExitWithoutClose) {
  TempDir tmp("pos");
  int status = WriteInChildThenDie(tmp.path(), 20, [](int) { _exit(0); });
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ExpectChildPositions(tmp.path(), 20);
}

TEST(RocksPositionStoreTest, PositionsSurviveSigkillRightAfterPut) {
  TempDir tmp("pos");
  int status = WriteInChildThenDie(tmp.path(), 20, [](int ready_fd) {
    char byte = 1;
    if (write(ready_fd, &byte, 1) != 1) _exit(14);
    pause();  // the parent SIGKILLs us here
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_EQ(WTERMSIG(status), SIGKILL);
  ExpectChildPositions(tmp.path(), 20);
}

}  // namespace
}  // namespace ferry::checkpoint
