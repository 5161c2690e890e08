// A large transaction's inserts (TargetWriter::CopyInsertsOpen) against a real
// target: the inserts of several Add calls go into one COPY left open while
// apply reads on; anything else goes after it, in its place; a row the target
// already holds fails the whole transaction with copy_refused(), and the
// events applied again without it resolve and count it as statements do. The
// same for runs of inserts capture sent as row batches (OP_INSERT_ROWS).
#include <gtest/gtest.h>

#include <memory>
#include <span>

#include "apply/target_writer.h"
#include "tests/unit/apply/apply_test_support.h"
#include "tests/unit/apply/copy_target_fixture.h"

namespace ferry::apply {
namespace {

using Events = std::vector<ferry::v1::ChangeEvent>;

class OpenInsertCopyTest : public testing::CopyTargetTest {
 protected:
  // A writer in a transaction of its own position row (topic "ferry.<schema>").
  std::unique_ptr<TargetWriter> Writer(const std::string& schema) {
    auto writer = TargetWriter::Connect(cluster_->conninfo(), {.rule = GetParam()});
    EXPECT_TRUE(writer.ok()) << writer.status().ToString();
    if (!writer.ok()) return nullptr;
    cluster_->Sql("DELETE FROM ferry.apply_progress WHERE topic = 'ferry." + schema + "'");
    tp_ = TopicPartition{"ferry." + schema, 0};
    auto start = (*writer)->LoadPosition(tp_);
    EXPECT_TRUE(start.ok()) << start.status().ToString();
    if (!start.ok()) return nullptr;
    start_ = *start;
    return std::move(*writer);
  }
  // Adds `events` in calls of `per_call`, as a streamed transaction arrives.
  static Status AddInCalls(TargetWriter& w, const Events& events, size_t per_call) {
    for (size_t at = 0; at < events.size(); at += per_call) {
      Status st = w.Add(std::span(events).subspan(at, std::min(per_call, events.size() - at)), 0);
      if (!st.ok()) return st;
    }
    return Status::OK();
  }
  // `events` through statements alone.
  void ApplyByStatements(const Events& events) {
    auto w = TargetWriter::Connect(cluster_->conninfo(), {.rule = GetParam(), .min_copy_rows = 0});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->ApplyBatch(events).ok());
  }
  // How many COPYs wrote into schema.t (the fixture's trigger logs each statement).
  std::string Copies(const std::string& schema) {
    return cluster_->Sql("SELECT count(*) FROM " + schema + ".log WHERE query = 'COPY'");
  }

  static Events Inserts(const std::string& schema, int rows) {
    return testing::AwkwardRows(schema, rows, [](int) { return ferry::v1::OP_INSERT; });
  }

  TopicPartition tp_;
  ApplyPosition start_;
  const ApplyPosition next_{Lsn(0x900), 0, 9, 0, ""};
};

TEST_P(OpenInsertCopyTest, InsertsOfEveryAddCallGoIntoOneCopyLeftOpenBetweenThem) {
  MakeSchema("opened");
  MakeSchema("stated");
  auto w = Writer("opened");
  ASSERT_NE(w, nullptr);
  const Events events = Inserts("opened", 3000);
  ASSERT_TRUE(w->Begin(tp_, start_).ok());
  w->CopyInsertsOpen();
  ASSERT_TRUE(w->Add(std::span(events).first(1000), 0).ok());
  EXPECT_TRUE(w->copying()) << "the COPY waits for the next call's inserts";
  ASSERT_TRUE(AddInCalls(*w, Events(events.begin() + 1000, events.end()), 700).ok());
  Status st = w->Commit(next_);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ApplyByStatements(Inserts("stated", 3000));
  EXPECT_EQ(Rows("opened"), Rows("stated"));
  EXPECT_EQ(Log("opened"), "COPY");
  EXPECT_EQ(Copies("opened"), "1") << "one COPY for the 5 calls";
  EXPECT_EQ(w->conflicts().Total(), 0);
}

// An update between inserts goes after the inserts before it and before the
// ones after it, as the source ordered them.
TEST_P(OpenInsertCopyTest, AnotherChangeBetweenInsertsKeepsItsPlace) {
  MakeSchema("between");
  auto w = Writer("between");
  ASSERT_NE(w, nullptr);
  const Events inserts = Inserts("between", 1000);
  Events events(inserts.begin(), inserts.begin() + 500);
  events.push_back(
      testing::Event("between", "t", ferry::v1::OP_UPDATE).Key({"id"}).Text("id", "400").Text("v", "changed").Build());
  events.push_back(testing::Event("between", "t", ferry::v1::OP_DELETE).Key({"id"}).OldText("id", "401").Build());
  events.insert(events.end(), inserts.begin() + 500, inserts.end());
  ASSERT_TRUE(w->Begin(tp_, start_).ok());
  w->CopyInsertsOpen();
  // Two calls: 500 inserts, the update and the delete; 500 inserts.
  Status st = AddInCalls(*w, events, 502);
  if (st.ok()) st = w->Commit(next_);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(cluster_->Sql("SELECT count(*) || ' ' || (SELECT v FROM between.t WHERE id = 400) FROM between.t"),
            "999 changed");
  EXPECT_EQ(Copies("between"), "2") << "a COPY before the update, another after the delete";
}

TEST_P(OpenInsertCopyTest, ARowTheTargetHoldsFailsTheTransactionAndStatementsApplyItAgain) {
  MakeSchema("held", "250");
  MakeSchema("stated", "250");
  auto w = Writer("held");
  ASSERT_NE(w, nullptr);
  const Events events = Inserts("held", 1000);
  ASSERT_TRUE(w->Begin(tp_, start_).ok());
  w->CopyInsertsOpen();
  Status st = AddInCalls(*w, events, 400);
  if (st.ok()) st = w->Commit(next_);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(w->copy_refused()) << st.ToString();
  EXPECT_NE(st.message().find("t_pkey"), std::string::npos) << st.ToString();
  w->Abort();
  EXPECT_EQ(cluster_->Sql("SELECT count(*) FROM held.t"), "1") << "nothing of the transaction stays";
  // Again without the open COPY: the run's COPY (in a savepoint) is refused,
  // its statement resolves the row under the rule and counts it.
  ASSERT_TRUE(w->Begin(tp_, start_).ok());
  EXPECT_FALSE(w->copy_refused());
  st = AddInCalls(*w, events, 400);
  if (st.ok()) st = w->Commit(next_);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ApplyByStatements(Inserts("stated", 1000));
  EXPECT_EQ(Rows("held"), Rows("stated"));
  EXPECT_EQ(w->conflicts().Total(), 1);
}

// A run of inserts capture sent as row batches (OP_INSERT_ROWS): their rows go
// into the open COPY as they are, one COPY for every call's batches.
TEST_P(OpenInsertCopyTest, InsertBatchesOfEveryAddCallGoIntoOneCopy) {
  MakeSchema("batched");
  MakeSchema("stated");
  auto w = Writer("batched");
  ASSERT_NE(w, nullptr);
  const Events batches = testing::RowBatches(Inserts("batched", 3000), 256, ferry::v1::OP_INSERT_ROWS);
  ASSERT_TRUE(w->Begin(tp_, start_).ok());
  w->CopyInsertsOpen();
  Status st = w->Add(std::span(batches).first(3), 0);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(w->copying()) << "the COPY waits for the next call's batches";
  st = AddInCalls(*w, Events(batches.begin() + 3, batches.end()), 4);
  if (st.ok()) st = w->Commit(next_);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ApplyByStatements(Inserts("stated", 3000));
  EXPECT_EQ(Rows("batched"), Rows("stated"));
  EXPECT_EQ(Copies("batched"), "1");
  EXPECT_EQ(w->conflicts().Total(), 0);
}

// A batch row the target holds fails the transaction; applied again without
// the open COPY, the batches' rows are resolved and counted as the inserts
// they stand for.
TEST_P(OpenInsertCopyTest, ABatchRowTheTargetHoldsIsResolvedAsItsInsertWouldBe) {
  MakeSchema("held", "250,1999");
  MakeSchema("stated", "250,1999");
  auto w = Writer("held");
  ASSERT_NE(w, nullptr);
  const Events batches = testing::RowBatches(Inserts("held", 2000), 300, ferry::v1::OP_INSERT_ROWS);
  ASSERT_TRUE(w->Begin(tp_, start_).ok());
  w->CopyInsertsOpen();
  Status st = AddInCalls(*w, batches, 2);
  if (st.ok()) st = w->Commit(next_);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(w->copy_refused()) << st.ToString();
  w->Abort();
  EXPECT_EQ(cluster_->Sql("SELECT count(*) FROM held.t"), "2") << "nothing of the transaction stays";
  ASSERT_TRUE(w->Begin(tp_, start_).ok());
  st = AddInCalls(*w, batches, 2);
  if (st.ok()) st = w->Commit(next_);
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto single = TargetWriter::Connect(cluster_->conninfo(), {.rule = GetParam(), .log_conflicts = true});
  ASSERT_TRUE(single.ok());
  ASSERT_TRUE((*single)->ApplyBatch(Inserts("stated", 2000)).ok());
  EXPECT_EQ(Rows("held"), Rows("stated"));
  EXPECT_EQ(w->conflicts().Total(), 2);
  std::string counted = w->conflicts().Summary();
  for (size_t at; (at = counted.find("\"held\"")) != std::string::npos;) counted.replace(at, 6, "\"stated\"");
  EXPECT_EQ(counted, (*single)->conflicts().Summary());
}

INSTANTIATE_TEST_SUITE_P(Rules, OpenInsertCopyTest, testing::AllRules(), testing::RuleName);

}  // namespace
}  // namespace ferry::apply
