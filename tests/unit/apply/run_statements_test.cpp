// Multi-row statements (run_statements.h) against a real target: a batch
// applied through runs leaves exactly the rows and conflict counts that one
// statement per event leaves, under every rule; and runs keep the source's
// row order where a unique index could see it.
#include "apply/run_statements.h"

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

class RunStatementsTest : public ::testing::TestWithParam<ConflictRule> {
 protected:
  void SetUp() override {
    cluster_ = testing::SharedTarget();
    ASSERT_NE(cluster_, nullptr);
  }

  // A fresh schema holding table t with some rows already there.
  void MakeSchema(const std::string& schema) {
    cluster_->Sql("SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + schema + " CASCADE; CREATE SCHEMA " +
                  schema + "; CREATE TABLE " + schema +
                  ".t (id int PRIMARY KEY, v text, n numeric(6,2), c char(3), big text, "
                  "note text DEFAULT 'dflt', g int GENERATED ALWAYS AS (id * 2) STORED);"
                  "INSERT INTO " + schema + ".t (id, v, n, note) VALUES (1, 'target', 1, 'mine'), (2, 'two', 2, 'x'), "
                  "(3, 'three', 3, 'y')");
  }

  // The same changes, with the schema each writer is pointed at.
  static Events Batch(const std::string& schema) {
    auto in = [&](const char* id, const char* v) {
      return Event(schema, "t", ferry::v1::OP_INSERT).Key({"id"}).Text("id", id).Text("v", v).Text("n", "1.239")
          .Text("c", "ab").Null("big").Build();
    };
    auto up = [&](const char* id, const char* v) {
      return Event(schema, "t", ferry::v1::OP_UPDATE).Key({"id"}).Text("id", id).Text("v", v).Text("n", "7")
          .Text("c", "xyz").Toast("big").Build();
    };
    auto del = [&](const char* id) { return Event(schema, "t", ferry::v1::OP_DELETE).Key({"id"}).OldText("id", id).Build(); };
    return {in("1", "src"), in("4", "four"), in("5", "with \"quotes\", {braces} and \\ back"), in("6", ""),
            up("2", "u2"), up("9", "missing"), up("4", "u4"), up("10", "missing too"),
            del("3"), del("11"), del("5"),
            in("5", "again")};
  }

  std::string Rows(const std::string& schema) {
    return cluster_->Sql("SELECT string_agg(t::text, ' ' ORDER BY id) FROM " + schema + ".t t");
  }

  ferry::testing::PgCluster* cluster_ = nullptr;
};

TEST_P(RunStatementsTest, RunsLeaveWhatOneStatementPerEventLeaves) {
  const ConflictRule rule = GetParam();
  MakeSchema("runs");
  MakeSchema("single");
  auto runs = TargetWriter::Connect(cluster_->conninfo(), {.rule = rule});
  // log_conflicts: one statement per event, to name each conflict.
  auto single = TargetWriter::Connect(cluster_->conninfo(), {.rule = rule, .log_conflicts = true});
  ASSERT_TRUE(runs.ok() && single.ok());
  ASSERT_TRUE((*runs)->ApplyBatch(Batch("runs")).ok());
  ASSERT_TRUE((*single)->ApplyBatch(Batch("single")).ok());
  EXPECT_EQ(Rows("runs"), Rows("single"));
  std::string counted = (*runs)->conflicts().Summary();
  for (size_t at; (at = counted.find("\"runs\"")) != std::string::npos;) counted.replace(at, 6, "\"single\"");
  EXPECT_EQ(counted, (*single)->conflicts().Summary());
  EXPECT_GT((*runs)->conflicts().Total(), 0) << "the batch meets every kind of conflict";
}

INSTANTIATE_TEST_SUITE_P(Rules, RunStatementsTest, testing::AllRules(), testing::RuleName);

TableInfo Table(int unique_indexes) {
  TableInfo t;
  t.schema = "app";
  t.table = "t";
  t.columns = {{"id", "integer", "integer", 23, 1007}, {"v", "text", "text", 25, 1009}};
  t.unique_keys = {{"id"}};
  t.unique_indexes = unique_indexes;
  return t;
}

TEST(RunKeyTest, LikeChangesOfATableShareARunAndOthersDoNot) {
  TableInfo t = Table(1);
  auto insert = Insert("t", "1").Text("v", "a").Build();
  auto insert_null = Insert("t", "2").Null("v").Build();
  auto insert_toast = Insert("t", "3").Toast("v").Build();
  EXPECT_FALSE(RunKey(insert, t).empty());
  EXPECT_EQ(RunKey(insert, t), RunKey(insert_null, t)) << "NULLs travel in the array";
  EXPECT_NE(RunKey(insert, t), RunKey(insert_toast, t)) << "another set of written columns";
  EXPECT_NE(RunKey(insert, t), RunKey(Update("t", "1").Text("v", "b").Build(), t));
  EXPECT_FALSE(RunKey(Delete("t", "1").Build(), t).empty());
  EXPECT_TRUE(RunKey(Insert("t", "1").Binary("v", "\x01").Build(), t).empty()) << "binary values go alone";
  EXPECT_EQ(RunRow(insert, t), std::string("1\0", 2));
}

// SameRunShape is a shortcut for RunKey: whenever it says "same", RunKey agrees.
TEST(RunKeyTest, SameRunShapeOnlyWhereTheRunKeysAreEqual) {
  TableInfo t = Table(1);
  Events events = {Insert("t", "1").Text("v", "a").Build(),
                   Insert("t", "2").Text("v", "other value").Build(),
                   Insert("t", "3").Null("v").Build(),
                   Insert("t", "4").Toast("v").Build(),
                   Insert("t", "5").Text("v", std::string("nul\0inside", 10)).Build(),
                   Insert("t", "6").Binary("v", "\x01").Build(),
                   Insert("u", "7").Text("v", "a").Build(),
                   Event("app", "t", ferry::v1::OP_READ).Key({"id"}).Text("id", "8").Text("v", "a").Build(),
                   Update("t", "9").Text("v", "b").Build(),
                   Update("t", "10").Text("v", "b").OldText("id", "11").KeyChanged().Build(),
                   Delete("t", "12").Build(),
                   Delete("t", "13").Build()};
  int same = 0;
  for (const auto& a : events) {
    for (const auto& b : events) {
      if (RunKey(a, t).empty() || !SameRunShape(a, b)) continue;
      ++same;
      EXPECT_EQ(RunKey(a, t), RunKey(b, t)) << a.ShortDebugString() << " vs " << b.ShortDebugString();
    }
  }
  EXPECT_TRUE(SameRunShape(events[0], events[1])) << "values differ, shape does not";
  EXPECT_TRUE(SameRunShape(events[10], events[11]));
  EXPECT_FALSE(SameRunShape(events[0], events[4])) << "a NUL makes an event go alone";
  EXPECT_FALSE(SameRunShape(events[0], events[6])) << "another table";
  EXPECT_GE(same, 14);
}

// UPDATE .. FROM may visit rows in any order: where another unique index
// could see that order (a value moving between rows), updates go one by one.
TEST(RunKeyTest, UpdatesOfATableWithAnotherUniqueIndexGoOneByOne) {
  auto update = Update("t", "1").Text("v", "b").Build();
  EXPECT_FALSE(RunKey(update, Table(1)).empty());
  EXPECT_TRUE(RunKey(update, Table(2)).empty());
  EXPECT_FALSE(RunKey(Insert("t", "1").Text("v", "a").Build(), Table(2)).empty())
      << "inserts keep the source's order inside a run";
}

// The unique value that moves between rows inside a transaction, as the source
// did it: applied in order, never refused.
TEST(RunStatementsOrderTest, AUniqueValueMovingBetweenRowsIsNotRefused) {
  auto* cluster = testing::SharedTarget();
  ASSERT_NE(cluster, nullptr);
  cluster->Sql("SET client_min_messages = warning; DROP SCHEMA IF EXISTS app CASCADE; CREATE SCHEMA app;"
               "CREATE TABLE app.codes (id int PRIMARY KEY, code text UNIQUE);"
               "INSERT INTO app.codes SELECT g, CASE WHEN g = 1 THEN 'C' END FROM generate_series(1, 50) g");
  auto w = TargetWriter::Connect(cluster->conninfo(), {});
  ASSERT_TRUE(w.ok());
  auto set = [](int id, const char* code) {
    Event e("app", "codes", ferry::v1::OP_UPDATE);
    e.Key({"id"}).Text("id", std::to_string(id));
    return code ? e.Text("code", code).Build() : e.Null("code").Build();
  };
  Events moves;
  for (int i = 1; i < 40; ++i) {
    moves.push_back(set(i, nullptr));
    moves.push_back(set(i + 1, "C"));
  }
  Status st = (*w)->ApplyBatch(moves);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(cluster->Sql("SELECT id FROM app.codes WHERE code = 'C'"), "40");
}

}  // namespace
}  // namespace ferry::apply
