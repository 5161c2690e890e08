// ReplayGuard over a real RocksDB store: replays are dropped, new events kept
// in order, and the guard holds across a restart.
#include "apply/replay_guard.h"

#include <gtest/gtest.h>

#include "tests/support/pg_cluster.h"

namespace ferry::apply {
namespace {

using checkpoint::RocksPositionStore;
using ferry::v1::ChangeEvent;

ChangeEvent Event(uint64_t commit_lsn, uint32_t index) {
  ChangeEvent e;
  e.set_table("t");
  e.set_commit_lsn(commit_lsn);
  e.set_index_in_tx(index);
  return e;
}

std::vector<uint64_t> Lsns(const std::vector<ChangeEvent>& events) {
  std::vector<uint64_t> out;
  for (const auto& e : events) out.push_back(e.commit_lsn() * 10 + e.index_in_tx());
  return out;
}

TEST(ReplayGuardTest, DropsEventsAtOrBeforeTheLastAppliedOfTheirPartition) {
  testing::TempDir tmp("guard");
  auto store = RocksPositionStore::Open(tmp.path());
  ASSERT_TRUE(store.ok());
  ReplayGuard guard(**store);
  TopicPartition p0{"x", 0}, p1{"x", 1};
  // Partition 0 holds a broker retry: (10,0) written again after (20,0).
  ChangeEvent a = Event(10, 0), b = Event(20, 0), a_again = Event(10, 0), c = Event(20, 1);
  ChangeEvent other = Event(5, 0);  // partition 1: older LSN but a different partition
  auto f = guard.Filter({{p0, 0, a}, {p0, 1, b}, {p1, 0, other}, {p0, 2, a_again}, {p0, 3, c}});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(Lsns(f->events), (std::vector<uint64_t>{100, 200, 50, 201}));
  EXPECT_EQ(f->replays, 1);
  EXPECT_EQ(f->progress[p0].next_offset, 4);
  EXPECT_EQ(f->progress[p0].last_applied.commit_lsn, Lsn(20));
  EXPECT_EQ(f->progress[p0].last_applied.index, 1u);
}

TEST(ReplayGuardTest, HoldsAcrossRestartThroughTheStore) {
  testing::TempDir tmp("guard");
  TopicPartition p0{"x", 0};
  {
    auto store = RocksPositionStore::Open(tmp.path());
    ASSERT_TRUE(store.ok());
    ReplayGuard guard(**store);
    ChangeEvent a = Event(10, 0), b = Event(30, 2);
    auto f = guard.Filter({{p0, 0, a}, {p0, 1, b}});
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*store)->PutProgress(f->progress).ok());
    guard.Commit(f->progress);
  }
  auto store = RocksPositionStore::Open(tmp.path());
  ASSERT_TRUE(store.ok());
  ReplayGuard guard(**store);
  ChangeEvent stale = Event(30, 2), fresh = Event(30, 3);
  auto f = guard.Filter({{p0, 2, stale}, {p0, 3, fresh}});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(Lsns(f->events), (std::vector<uint64_t>{303}));
  EXPECT_EQ(f->replays, 1);
}

TEST(ReplayGuardTest, NothingChangesUntilCommit) {
  testing::TempDir tmp("guard");
  auto store = RocksPositionStore::Open(tmp.path());
  ASSERT_TRUE(store.ok());
  ReplayGuard guard(**store);
  TopicPartition p0{"x", 0};
  ChangeEvent a = Event(10, 0);
  ASSERT_EQ(guard.Filter({{p0, 0, a}})->events.size(), 1u);
  // The batch failed to apply and is retried: it must not now count as a replay.
  ASSERT_EQ(guard.Filter({{p0, 0, a}})->events.size(), 1u);
}

// A crash after the target committed a batch but before the store recorded
// it: the position committed with the rows (on the target) is the later one
// and wins, so the batch is not applied twice.
TEST(ReplayGuardTest, PositionCommittedOnTheTargetWinsWhenLater) {
  testing::TempDir tmp("guard");
  auto store = RocksPositionStore::Open(tmp.path());
  ASSERT_TRUE(store.ok());
  TopicPartition p0{"x", 0}, p1{"x", 1};
  std::map<TopicPartition, checkpoint::PartitionProgress> stored = {{p0, {5, {Lsn(10), 0}}}};
  ASSERT_TRUE((*store)->PutProgress(stored).ok());
  std::map<TopicPartition, checkpoint::EventPosition> on_target = {{p0, {Lsn(30), 2}},
                                                                   {p1, {Lsn(5), 0}}};
  ReplayGuard guard(**store, [&](const TopicPartition& tp)
                                 -> Result<std::optional<checkpoint::EventPosition>> {
    auto it = on_target.find(tp);
    if (it == on_target.end()) return std::optional<checkpoint::EventPosition>();
    return std::optional<checkpoint::EventPosition>(it->second);
  });
  auto f = guard.Filter({{p0, 5, Event(20, 0)}, {p0, 6, Event(30, 2)}, {p0, 7, Event(30, 3)},
                         {p1, 0, Event(5, 0)}, {p1, 1, Event(6, 0)}});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(Lsns(f->events), (std::vector<uint64_t>{303, 60}));
  EXPECT_EQ(f->replays, 3);
  EXPECT_EQ(f->commit_time_us.size(), 2u);
}

}  // namespace
}  // namespace ferry::apply
