// The resume rule of capture/source_history.h, case by case (the real sources
// behind it: tests/e2e/source_history_test.cpp).
#include "capture/source_history.h"

#include <gtest/gtest.h>

namespace ferry::capture {
namespace {

using checkpoint::SourceHistory;

constexpr uint64_t kSystem = 7713880712404532094ULL;

SourceIdentity Source(uint32_t timeline, Lsn flushed, std::vector<TimelineFork> ancestors = {}) {
  return SourceIdentity{SourceHistory{kSystem, timeline}, flushed, std::move(ancestors)};
}

TEST(SourceHistoryTest, ParsesPostgresTimelineHistoryFiles) {
  auto forks = ParseTimelineHistory("1\t0/3000A28\tno recovery target specified\n\n"
                                    "# a comment\n2\t1/5000000\tbefore 2026-11-30 10:00:00+00\n");
  ASSERT_TRUE(forks.ok()) << forks.status().ToString();
  ASSERT_EQ(forks->size(), 2u);
  EXPECT_EQ((*forks)[0].timeline, 1u);
  EXPECT_EQ((*forks)[0].end, Lsn(0x3000A28));
  EXPECT_EQ((*forks)[1].timeline, 2u);
  EXPECT_EQ((*forks)[1].end, Lsn(0x105000000));
  EXPECT_TRUE(ParseTimelineHistory("1\n").status().IsCorruption());
  EXPECT_TRUE(ParseTimelineHistory("x\t0/1\tr\n").status().IsCorruption());
}

TEST(SourceHistoryTest, SameHistoryResumesFromTheLaterOfSlotAndStore) {
  StoredPosition stored{Lsn(0x2000), SourceHistory{kSystem, 1}};
  EXPECT_EQ(*ChooseResumePoint(stored, Lsn(0x1000), Source(1, Lsn(0x3000)), "ferry"), Lsn(0x2000));
  EXPECT_EQ(*ChooseResumePoint(stored, Lsn(0x2800), Source(1, Lsn(0x3000)), "ferry"), Lsn(0x2800));
  EXPECT_EQ(*ChooseResumePoint({}, Lsn(0x1000), Source(1, Lsn(0x3000)), "ferry"), Lsn(0x1000))
      << "nothing stored: the slot";
}

TEST(SourceHistoryTest, AnotherSystemIsRefused) {
  StoredPosition stored{Lsn(0x2000), SourceHistory{kSystem + 1, 1}};
  Result<Lsn> r = ChooseResumePoint(stored, Lsn(0x1000), Source(1, Lsn(0x9000)), "ferry");
  ASSERT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("another PostgreSQL cluster"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("pg_drop_replication_slot('ferry')"), std::string::npos);
}

TEST(SourceHistoryTest, LaterTimelineIsFollowedOnlyWhenItForkedAtOrAfterThePosition) {
  StoredPosition stored{Lsn(0x2000), SourceHistory{kSystem, 1}};
  // Timeline 1 ended at 0x2000 or later: everything confirmed is on timeline 3's history.
  for (Lsn end : {Lsn(0x2000), Lsn(0x2500)}) {
    auto r = ChooseResumePoint(stored, Lsn(0x1800), Source(3, Lsn(0x9000), {{1, end}, {2, Lsn(0x6000)}}), "ferry");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, Lsn(0x2000));
  }
  // Timeline 1 ended before it: PITR to an earlier point, or a lagging replica promoted.
  auto forked = ChooseResumePoint(stored, Lsn(0x1800), Source(2, Lsn(0x9000), {{1, Lsn(0x1FFF)}}), "ferry");
  ASSERT_EQ(forked.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(forked.status().message().find("ended at 0/1FFF"), std::string::npos) << forked.status().ToString();
  // Not a descendant of timeline 1's history, or an earlier timeline.
  auto unrelated = ChooseResumePoint(StoredPosition{Lsn(0x2000), SourceHistory{kSystem, 2}}, Lsn(0x1800),
                                     Source(3, Lsn(0x9000), {{1, Lsn(0x5000)}}), "ferry");
  EXPECT_EQ(unrelated.status().code(), Status::Code::kInvalidArgument);
  auto earlier = ChooseResumePoint(StoredPosition{Lsn(0x2000), SourceHistory{kSystem, 2}}, Lsn(0x1800),
                                   Source(1, Lsn(0x9000)), "ferry");
  EXPECT_EQ(earlier.status().code(), Status::Code::kInvalidArgument);
}

TEST(SourceHistoryTest, WalEndingBeforeThePositionIsRefusedEvenWithoutAStoredHistory) {
  for (auto history : {std::optional<SourceHistory>(SourceHistory{kSystem, 1}), std::optional<SourceHistory>()}) {
    auto r = ChooseResumePoint(StoredPosition{Lsn(0x5000), history}, Lsn(0x1000), Source(1, Lsn(0x4FFF)), "ferry");
    ASSERT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("WAL ends at 0/4FFF"), std::string::npos) << r.status().ToString();
  }
  // A position stored before histories were recorded, on a source that reaches it.
  auto old = ChooseResumePoint(StoredPosition{Lsn(0x5000), std::nullopt}, Lsn(0x1000), Source(1, Lsn(0x5000)),
                               "ferry");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(*old, Lsn(0x5000));
}

}  // namespace
}  // namespace ferry::capture
