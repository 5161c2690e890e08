// Each conflict rule against each conflict kind, on a real target with rows
// placed there in advance: the rows left and the counts. Also REPLICA IDENTITY
// FULL rows with duplicates, and the positions committed with the rows.
#include <gtest/gtest.h>

#include "apply/target_writer.h"
#include "tests/unit/apply/apply_test_support.h"

namespace ferry::apply {
namespace {

using testing::Delete;
using testing::Event;
using testing::Insert;
using testing::Update;
using Events = std::vector<ferry::v1::ChangeEvent>;

class ConflictRulesTest : public ::testing::TestWithParam<ConflictRule> {
 protected:
  void SetUp() override {
    cluster_ = testing::SharedTarget();
    ASSERT_NE(cluster_, nullptr);
    // `extra` exists only on the target; `big` is sent as unchanged TOAST by updates.
    Sql("SET client_min_messages = warning; DROP SCHEMA IF EXISTS app CASCADE; CREATE SCHEMA app;"
        "CREATE TABLE app.t (id int PRIMARY KEY, v text, big text, extra text DEFAULT 'dflt');"
        "INSERT INTO app.t VALUES (1, 'target', 'tbig1', 'kept1'), (4, 'old', 'tbig4', 'kept4')");
    auto w = TargetWriter::Connect(cluster_->conninfo(), {GetParam(), /*log_conflicts=*/true});
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    writer_ = std::move(w).value();
  }
  std::string Sql(const std::string& sql) { return cluster_->Sql(sql); }
  std::string Rows() { return Sql("SELECT string_agg(t::text, ' ' ORDER BY id) FROM app.t t"); }

  ferry::testing::PgCluster* cluster_ = nullptr;
  std::unique_ptr<TargetWriter> writer_;
};

TEST_P(ConflictRulesTest, EachKindResolvedByTheRuleAndCounted) {
  Events batch = {
      Insert("t", "1").Text("v", "src").Text("big", "sbig"),  // insert_exists
      Update("t", "2").Text("v", "upd").Toast("big"),         // update_missing
      Delete("t", "3"),                                       // delete_missing
      Update("t", "4").Text("v", "new").Toast("big"),         // no conflict; big kept
      Insert("t", "5").Text("v", "fresh").Null("big"),        // no conflict
  };
  ASSERT_TRUE(writer_->ApplyBatch(batch).ok());
  const std::string common = " (4,new,tbig4,kept4) (5,fresh,,dflt)";
  switch (GetParam()) {
    case ConflictRule::kReplace:
      EXPECT_EQ(Rows(), "(1,src,sbig,dflt) (2,upd,,dflt)" + common);
      EXPECT_EQ(writer_->conflicts().Summary(),
                "\"app\".\"t\" insert_exists/overwritten=1, \"app\".\"t\" update_missing/inserted=1, "
                "\"app\".\"t\" delete_missing/skipped=1");
      break;
    case ConflictRule::kMerge:
      EXPECT_EQ(Rows(), "(1,src,sbig,kept1) (2,upd,,dflt)" + common);
      EXPECT_EQ(writer_->conflicts().Summary(),
                "\"app\".\"t\" insert_exists/merged=1, \"app\".\"t\" update_missing/inserted=1, "
                "\"app\".\"t\" delete_missing/skipped=1");
      break;
    case ConflictRule::kNone:
      EXPECT_EQ(Rows(), "(1,target,tbig1,kept1)" + common);
      EXPECT_EQ(writer_->conflicts().Summary(),
                "\"app\".\"t\" insert_exists/skipped=1, \"app\".\"t\" update_missing/skipped=1, "
                "\"app\".\"t\" delete_missing/skipped=1");
      break;
  }
  EXPECT_EQ(writer_->conflicts().Total(), 3);
}

TEST_P(ConflictRulesTest, FailedBatchCountsNothing) {
  Sql("ALTER TABLE app.t ADD CONSTRAINT short CHECK (length(v) < 10)");
  Status s = writer_->ApplyBatch(
      Events{Insert("t", "1").Text("v", "src"), Insert("t", "9").Text("v", "much too long")});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(writer_->conflicts().Total(), 0);
  EXPECT_EQ(Rows(), "(1,target,tbig1,kept1) (4,old,tbig4,kept4)");
}

// An update carrying a large value as unchanged TOAST keeps the target's value
// under every rule, whether the row is there or not.
TEST_P(ConflictRulesTest, UnchangedToastIsNeverWritten) {
  Sql("CREATE TABLE app.doc (id int PRIMARY KEY, n int, body text NOT NULL DEFAULT 'none');"
      "INSERT INTO app.doc VALUES (1, 0, repeat('x', 1000000))");
  auto update = [](const char* id, const char* n) {
    return Event("app", "doc", ferry::v1::OP_UPDATE).Key({"id"}).Text("id", id).Text("n", n).Toast(
        "body");
  };
  ASSERT_TRUE(writer_->ApplyBatch(Events{update("1", "1"), update("2", "1")}).ok());
  EXPECT_EQ(Sql("SELECT n || ':' || length(body) FROM app.doc WHERE id = 1"), "1:1000000");
  std::string missing = Sql("SELECT coalesce((SELECT n || ':' || body FROM app.doc WHERE id = 2), '-')");
  EXPECT_EQ(missing, GetParam() == ConflictRule::kNone ? "-" : "1:none")
      << "a missing row is inserted with the target's default for what was not sent";
}

// REPLICA IDENTITY FULL onto a table without a key: each update and delete
// touches exactly one of several identical rows; NULLs match NULLs.
TEST_P(ConflictRulesTest, FullIdentityDuplicatesOneCopyAtATime) {
  Sql("CREATE TABLE app.f (a int, b text, j json);"
      "INSERT INTO app.f VALUES (1, NULL, '{\"k\": 1}'), (1, NULL, '{\"k\": 1}'), (2, 'x', NULL)");
  auto full = [](ferry::v1::Operation op, const std::string& b) {
    Event e("app", "f", op);
    e.Key({"a", "b", "j"});
    e.OldText("a", "1").OldNull("b").OldText("j", "{\"k\": 1}");
    ferry::v1::ChangeEvent ev = e;
    ev.set_old_tuple(ferry::v1::ChangeEvent::OLD_FULL);
    if (op == ferry::v1::OP_UPDATE) {
      auto add = [&](const char* name, const std::string& v) {
        auto* c = ev.add_columns();
        c->set_name(name);
        c->set_kind(v.empty() ? ferry::v1::Column::KIND_NULL : ferry::v1::Column::KIND_TEXT);
        c->set_value(v);
      };
      add("a", "1");
      add("b", b);
      add("j", "{\"k\": 1}");
    }
    return ev;
  };
  auto rows = [&] { return Sql("SELECT string_agg(f::text, ' ' ORDER BY a, b, j::text) FROM app.f f"); };
  ASSERT_TRUE(writer_->ApplyBatch(Events{full(ferry::v1::OP_UPDATE, "one")}).ok());
  EXPECT_EQ(rows(), "(1,one,\"{\"\"k\"\": 1}\") (1,,\"{\"\"k\"\": 1}\") (2,x,)");
  ASSERT_TRUE(writer_->ApplyBatch(Events{full(ferry::v1::OP_DELETE, "")}).ok());
  EXPECT_EQ(rows(), "(1,one,\"{\"\"k\"\": 1}\") (2,x,)");
  EXPECT_EQ(writer_->conflicts().Total(), 0);
  ASSERT_TRUE(writer_->ApplyBatch(Events{full(ferry::v1::OP_DELETE, "")}).ok());
  EXPECT_EQ(rows(), "(1,one,\"{\"\"k\"\": 1}\") (2,x,)");
  EXPECT_EQ(writer_->conflicts().Summary(), "\"app\".\"f\" delete_missing/skipped=1");
}

INSTANTIATE_TEST_SUITE_P(Rules, ConflictRulesTest, testing::AllRules(), testing::RuleName);

// The position a transaction applied is committed with its rows, and only then.
TEST(AppliedProgressTest, PositionCommitsWithTheTransaction) {
  auto* cluster = testing::SharedTarget();
  ASSERT_NE(cluster, nullptr);
  cluster->Sql("SET client_min_messages = warning; DROP SCHEMA IF EXISTS app CASCADE; "
               "CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, v text)");
  auto w = TargetWriter::Connect(cluster->conninfo(), {});  // creates ferry.apply_progress
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  cluster->Sql("DELETE FROM ferry.apply_progress WHERE topic = 'ferry.test'");
  TopicPartition tp{"ferry.test", 0};
  auto before = (*w)->LoadPosition(tp);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_EQ(before->offset, -1) << "nothing applied yet";

  ApplyPosition first{Lsn(0x500), 7, 41, 1700000000000000, "c1"};
  ASSERT_TRUE((*w)->Begin(tp, *before).ok());
  ASSERT_TRUE((*w)->Add(Events{Insert("t", "1").At(0x500, 6)}, 0).ok());
  ASSERT_TRUE((*w)->Commit(first).ok());
  auto after = (*w)->LoadPosition(tp);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->SameAs(first)) << after->ToString();
  EXPECT_EQ(cluster->Sql("SELECT commit_time FROM ferry.apply_progress WHERE topic = 'ferry.test'"),
            "2023-11-14 22:13:20+00");

  // A transaction that fails leaves the position where it was.
  ApplyPosition second{Lsn(0x600), 1, 43, 1700000000000000, "c1"};
  ASSERT_TRUE((*w)->Begin(tp, first).ok());
  EXPECT_FALSE((*w)->Add(Events{Insert("t", "2"), Insert("t", "3").Text("nope", "x")}, 0).ok());
  EXPECT_EQ((*w)->failed_tag(), std::optional<size_t>(0));
  (*w)->Abort();
  after = (*w)->LoadPosition(tp);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->SameAs(first)) << after->ToString();
  EXPECT_EQ(cluster->Sql("SELECT count(*) FROM app.t"), "1");

  // A process that expects an older position may not apply: another moved it.
  auto other = TargetWriter::Connect(cluster->conninfo(), {});
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Begin(tp, first).ok());
  ASSERT_TRUE((*other)->Add(Events{Insert("t", "2").At(0x600, 0)}, 0).ok());
  ASSERT_TRUE((*other)->Commit(second).ok());
  Status stale = (*w)->Begin(tp, first);
  EXPECT_TRUE(stale.IsRetriable()) << stale.ToString();
  EXPECT_TRUE((*w)->position_moved());
  EXPECT_FALSE((*w)->in_transaction());
  after = (*w)->LoadPosition(tp);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->SameAs(second)) << "never backwards: " << after->ToString();
}

}  // namespace
}  // namespace ferry::apply
