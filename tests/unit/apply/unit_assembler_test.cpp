// UnitAssembler: whole units out of the changes topic, whatever capture
// restarts and broker retries put in it; large units streamed.
#include "apply/unit_assembler.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <string>
#include <vector>

namespace ferry::apply {
namespace {

using ferry::v1::ChangeEvent;

ChangeEvent Change(uint64_t lsn, uint32_t index, uint64_t session, const std::string& value = "") {
  ChangeEvent e;
  e.set_schema("public");
  e.set_table("t");
  e.set_op(ferry::v1::OP_INSERT);
  e.set_commit_lsn(lsn);
  e.set_index_in_tx(index);
  e.set_capture_session(session);
  auto* c = e.add_columns();
  c->set_name("v");
  c->set_kind(ferry::v1::Column::KIND_TEXT);
  c->set_value(value);
  return e;
}

ChangeEvent End(uint64_t lsn, uint32_t index, uint32_t events, uint64_t session) {
  ChangeEvent e;
  e.set_op(ferry::v1::OP_END);
  e.set_commit_lsn(lsn);
  e.set_index_in_tx(index);
  e.set_unit_events(events);
  e.set_capture_session(session);
  return e;
}

// Records what the assembler hands on, as a readable trace.
class Trace : public UnitHandler {
 public:
  Status OnUnit(Unit unit) override {
    std::string s = fmt::format("unit {}:", unit.end.commit_lsn());
    for (const auto& e : unit.events) s += fmt::format(" {}", e.index_in_tx());
    s += fmt::format(" @{}..{}", unit.first_offset, unit.end_offset);
    log.push_back(s);
    return Status::OK();
  }
  Status OnStreamStart(std::vector<ChangeEvent> events, std::vector<int64_t>, int64_t first) override {
    log.push_back(fmt::format("start @{} {}", first, events.size()));
    return Status::OK();
  }
  Status OnStreamEvents(std::vector<ChangeEvent> events, std::vector<int64_t>) override {
    log.push_back(fmt::format("more {}", events.size()));
    return Status::OK();
  }
  Status OnStreamEnd(const ChangeEvent& end, int64_t offset) override {
    log.push_back(fmt::format("end {} @{}", end.commit_lsn(), offset));
    return Status::OK();
  }
  Status OnStreamAbandoned() override {
    log.push_back("abandoned");
    return Status::OK();
  }
  std::vector<std::string> log;
};

class UnitAssemblerTest : public ::testing::Test {
 protected:
  Status Feed(std::vector<ChangeEvent> messages) {
    for (auto& m : messages) {
      size_t size = m.ByteSizeLong();
      FERRY_RETURN_IF_ERROR(assembler_.Add(std::move(m), offset_++, size));
    }
    return Status::OK();
  }
  Trace trace_;
  UnitAssembler assembler_{trace_, 1 << 20};
  int64_t offset_ = 0;
};

TEST_F(UnitAssemblerTest, HandsOnOnlyWholeUnits) {
  ASSERT_TRUE(Feed({Change(100, 0, 1), Change(100, 1, 1)}).ok());
  EXPECT_TRUE(trace_.log.empty()) << "nothing before the unit's end";
  EXPECT_TRUE(assembler_.in_unit());
  ASSERT_TRUE(Feed({End(100, 2, 2, 1), Change(200, 0, 1), End(200, 1, 1, 1)}).ok());
  EXPECT_EQ(trace_.log, (std::vector<std::string>{"unit 100: 0 1 @0..2", "unit 200: 0 @3..4"}));
  EXPECT_FALSE(assembler_.in_unit());
}

TEST_F(UnitAssemblerTest, DropsReplaysDuplicatesAndStaleCopiesAndAbandonsUnfinishedUnits) {
  ASSERT_TRUE(Feed({Change(100, 0, 1), End(100, 1, 1, 1),
                    Change(200, 0, 1), Change(200, 0, 1), Change(200, 1, 1), End(200, 2, 2, 1),  // a duplicate
                    Change(100, 0, 1), End(100, 1, 1, 1),                                        // resent
                    Change(300, 0, 1),                                                           // never ends
                    Change(300, 0, 2, "again"), End(300, 1, 1, 2),                               // resent whole
                    Change(300, 0, 1)})                                                          // late copy
                  .ok());
  EXPECT_EQ(trace_.log,
            (std::vector<std::string>{"unit 100: 0 @0..1", "unit 200: 0 1 @2..5", "unit 300: 0 @9..10"}));
  const AssemblerCounts& c = assembler_.counts();
  EXPECT_EQ(c.replays, 2);
  EXPECT_EQ(c.duplicates, 1);
  EXPECT_EQ(c.stale, 1);
  EXPECT_EQ(c.abandoned, 1);
}

TEST_F(UnitAssemblerTest, ResumesAfterThePositionAndContinuesSnapshotChunks) {
  // Where apply resumed: after a snapshot chunk ending at index 2 of commit 100.
  assembler_.Reset(ApplyPosition{Lsn(100), 2, 9, 0, ""});
  ASSERT_TRUE(Feed({Change(100, 1, 1), End(100, 2, 2, 1),            // at or before it: replays
                    Change(100, 3, 1), Change(100, 4, 1), End(100, 5, 2, 1)})  // the next chunk
                  .ok());
  EXPECT_EQ(trace_.log, (std::vector<std::string>{"unit 100: 3 4 @2..4"}));
  EXPECT_EQ(assembler_.counts().replays, 2);
}

TEST_F(UnitAssemblerTest, GapsMismatchedEndsAndOrphansAreCorruption) {
  EXPECT_TRUE(Feed({Change(100, 0, 1), Change(100, 2, 1)}).IsCorruption()) << "event 1 missing";
  assembler_.Reset({});
  EXPECT_TRUE(Feed({Change(200, 0, 1), End(200, 1, 5, 1)}).IsCorruption()) << "the end counts 5";
  assembler_.Reset({});
  EXPECT_TRUE(Feed({Change(300, 4, 1)}).IsCorruption()) << "an event in the middle of nothing";
  EXPECT_TRUE(trace_.log.empty());
}

TEST_F(UnitAssemblerTest, LargeUnitsStreamAndAreUndoneWhenAbandoned) {
  UnitAssembler small(trace_, 200);  // bytes buffered at most
  std::vector<ChangeEvent> big;
  for (uint32_t i = 0; i < 20; ++i) big.push_back(Change(100, i, 1, std::string(40, 'x')));
  for (size_t i = 0; i < big.size(); ++i) {
    ASSERT_TRUE(small.Add(std::move(big[i]), offset_++, 60).ok());
    if (i == 9) {
      ASSERT_TRUE(small.Flush().ok());
    }
  }
  ASSERT_TRUE(small.Add(End(100, 20, 20, 1), offset_++, 10).ok());
  // Every event is handed on before the end: 4 when it started streaming, 6 at
  // the flush, the last 10 with the end.
  EXPECT_EQ(trace_.log, (std::vector<std::string>{"start @0 4", "more 6", "more 10", "end 100 @20"}));

  trace_.log.clear();
  for (uint32_t i = 0; i < 6; ++i) ASSERT_TRUE(small.Add(Change(200, i, 1), offset_++, 60).ok());
  ASSERT_TRUE(small.Add(Change(150, 0, 2), offset_++, 60).ok());  // a new session resends from before it
  EXPECT_EQ(trace_.log, (std::vector<std::string>{"start @21 4", "abandoned"}));
}

}  // namespace
}  // namespace ferry::apply
