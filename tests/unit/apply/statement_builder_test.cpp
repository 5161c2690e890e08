// The SQL text and parameters for each event shape under each conflict rule,
// and the events and tables refused. No server needed.
#include "apply/statement_builder.h"

#include <gtest/gtest.h>

#include "tests/unit/apply/apply_test_support.h"

namespace ferry::apply {
namespace {

using testing::Delete;
using testing::Event;
using testing::Insert;
using testing::Update;

TableInfo Table(const std::string& name = "t") {
  TableInfo t;
  t.schema = "app";
  t.table = name;
  t.columns = {{"id", "integer"}, {"v", "text"}, {"big", "text"}, {"n", "numeric", "numeric"}};
  t.unique_keys = {{"id"}};
  return t;
}

// The statement copied out: its parameters point into the event, which the
// callers below pass as temporaries.
struct Built {
  Status status;
  std::string sql;
  std::vector<std::string> params;  // "<NULL>" for NULL
  bool ok() const { return status.ok(); }
};

Built Build(const ferry::v1::ChangeEvent& e, const TableInfo& table,
            ConflictRule rule = ConflictRule::kReplace) {
  auto st = BuildStatement(e, table, rule);
  if (!st.ok()) return {st.status(), "", {}};
  Built out{Status::OK(), st->sql, {}};
  for (const char* p : st->params) out.params.push_back(p ? p : "<NULL>");
  return out;
}

TEST(StatementBuilderTest, UpdateWritesCarriedColumnsAndSkipsUnchangedToast) {
  auto st = Build(Update("t", "7").Text("v", "x").Toast("big").Null("n"), Table());
  ASSERT_TRUE(st.ok()) << st.status.ToString();
  EXPECT_EQ(st.sql,
            "WITH u AS (UPDATE \"app\".\"t\" SET \"v\" = $2, \"n\" = $3 WHERE \"id\" = $4 "
            "RETURNING 1), i AS (INSERT INTO \"app\".\"t\" (\"id\", \"v\", \"n\") SELECT $1, $2, "
            "$3 WHERE NOT EXISTS (SELECT FROM u) RETURNING 1) SELECT EXISTS (SELECT FROM u)");
  EXPECT_EQ(st.params, (std::vector<std::string>{"7", "x", "<NULL>", "7"}));
  auto merge = Build(Update("t", "7").Text("v", "x").Toast("big").Null("n"), Table(),
                     ConflictRule::kMerge);
  EXPECT_EQ(merge.sql, st.sql) << "replace and merge differ only for insert_exists";
  auto none = Build(Update("t", "7").Text("v", "x"), Table(), ConflictRule::kNone);
  EXPECT_EQ(none.sql, "UPDATE \"app\".\"t\" SET \"v\" = $2 WHERE \"id\" = $3 RETURNING true");
}

TEST(StatementBuilderTest, InsertUnderEachRule) {
  auto replace = Build(Insert("t", "1").Text("v", "a"), Table());
  EXPECT_EQ(replace.sql,
            "INSERT INTO \"app\".\"t\" (\"id\", \"v\") VALUES ($1, $2) ON CONFLICT (\"id\") DO "
            "UPDATE SET \"v\" = EXCLUDED.\"v\", \"big\" = DEFAULT, \"n\" = DEFAULT "
            "RETURNING xmax = 0");
  auto merge = Build(Insert("t", "1").Text("v", "a"), Table(), ConflictRule::kMerge);
  EXPECT_EQ(merge.sql,
            "INSERT INTO \"app\".\"t\" (\"id\", \"v\") VALUES ($1, $2) ON CONFLICT (\"id\") DO "
            "UPDATE SET \"v\" = EXCLUDED.\"v\" RETURNING xmax = 0");
  auto none = Build(Insert("t", "1").Text("v", "a"), Table(), ConflictRule::kNone);
  EXPECT_EQ(none.sql,
            "INSERT INTO \"app\".\"t\" (\"id\", \"v\") VALUES ($1, $2) ON CONFLICT (\"id\") DO "
            "NOTHING RETURNING true");
  auto read = Build(
      Event("app", "t", ferry::v1::OP_READ).Key({"id"}).Text("id", "1").Text("v", "a"), Table());
  EXPECT_EQ(read.sql, replace.sql);
  auto moved = Build(Update("t", "1").Text("v", "a").KeyChanged(), Table());
  EXPECT_EQ(moved.sql, replace.sql) << "the new half of a key change is an insert";
}

TEST(StatementBuilderTest, KeyOnlyRowStillReportsTheConflict) {
  auto st = Build(Insert("t", "1").Toast("big"), Table(), ConflictRule::kMerge);
  ASSERT_TRUE(st.ok()) << st.status.ToString();
  EXPECT_EQ(st.sql,
            "INSERT INTO \"app\".\"t\" (\"id\") VALUES ($1) ON CONFLICT (\"id\") DO UPDATE SET "
            "\"id\" = EXCLUDED.\"id\" RETURNING xmax = 0");
}

TEST(StatementBuilderTest, DeleteByOldKey) {
  TableInfo t = Table();
  t.unique_keys = {{"id", "v"}};
  auto st = Build(
      Event("app", "t", ferry::v1::OP_DELETE).Key({"v", "id"}).OldText("id", "3").OldText("v", "b"),
      t);
  ASSERT_TRUE(st.ok()) << st.status.ToString();
  EXPECT_EQ(st.sql, "DELETE FROM \"app\".\"t\" WHERE \"v\" = $1 AND \"id\" = $2 RETURNING true");
  EXPECT_EQ(st.params, (std::vector<std::string>{"b", "3"}));
}

// REPLICA IDENTITY FULL onto a table without a key: the first matching row, by ctid.
TEST(StatementBuilderTest, FullIdentityWithoutKeyMatchesOneRowByCtid) {
  TableInfo t;
  t.schema = "app";
  t.table = "f";
  t.columns = {{"a", "integer"}, {"b", "text"}};
  auto old_row = [](Event e) {
    ferry::v1::ChangeEvent ev = e.OldText("a", "1").OldNull("b");
    ev.set_old_tuple(ferry::v1::ChangeEvent::OLD_FULL);
    return ev;
  };
  auto del = Build(old_row(Event("app", "f", ferry::v1::OP_DELETE).Key({"a", "b"})), t);
  ASSERT_TRUE(del.ok()) << del.status.ToString();
  EXPECT_EQ(del.sql,
            "DELETE FROM \"app\".\"f\" WHERE ctid = (SELECT ctid FROM \"app\".\"f\" WHERE "
            "\"a\"::text IS NOT DISTINCT FROM $1::text AND \"b\" IS NULL LIMIT 1) RETURNING true");
  auto upd = Build(
      old_row(Event("app", "f", ferry::v1::OP_UPDATE).Key({"a", "b"}).Text("a", "2").Text("b", "x")),
      t, ConflictRule::kNone);
  EXPECT_EQ(upd.sql,
            "UPDATE \"app\".\"f\" SET \"a\" = $1, \"b\" = $2 WHERE ctid = (SELECT ctid FROM "
            "\"app\".\"f\" WHERE \"a\"::text IS NOT DISTINCT FROM $3::text AND \"b\" IS NULL "
            "LIMIT 1) RETURNING true");
  EXPECT_EQ(upd.params, (std::vector<std::string>{"2", "x", "1"}));
  auto ins = Build(Event("app", "f", ferry::v1::OP_INSERT).Key({"a", "b"}).Text("a", "1").Null("b"),
                   t, ConflictRule::kNone);
  EXPECT_EQ(ins.sql, "INSERT INTO \"app\".\"f\" (\"a\", \"b\") VALUES ($1, $2)");
  t.partitioned = true;
  auto part = Build(old_row(Event("app", "f", ferry::v1::OP_DELETE).Key({"a", "b"})), t);
  EXPECT_NE(part.sql.find("(tableoid, ctid) = (SELECT tableoid, ctid FROM"), std::string::npos)
      << part.sql;
  // With a key on the target, FULL events use it, and the old row's key value.
  t.partitioned = false;
  t.unique_keys = {{"a"}};
  auto keyed = Build(
      old_row(Event("app", "f", ferry::v1::OP_UPDATE).Key({"a", "b"}).Text("a", "2").Text("b", "x")),
      t, ConflictRule::kNone);
  EXPECT_EQ(keyed.sql,
            "UPDATE \"app\".\"f\" SET \"a\" = $1, \"b\" = $2 WHERE \"a\" = $3 RETURNING true");
  EXPECT_EQ(keyed.params, (std::vector<std::string>{"2", "x", "1"}));
}

TEST(StatementBuilderTest, GeneratedColumnsSkippedIdentityOverridden) {
  TableInfo t = Table();
  t.columns[3].generated = true;           // n
  t.columns[2].identity_always = true;     // big
  auto st = Build(Insert("t", "1").Text("big", "5").Text("n", "9"), t, ConflictRule::kMerge);
  ASSERT_TRUE(st.ok()) << st.status.ToString();
  EXPECT_EQ(st.sql,
            "INSERT INTO \"app\".\"t\" (\"id\", \"big\") OVERRIDING SYSTEM VALUE VALUES ($1, $2) "
            "ON CONFLICT (\"id\") DO UPDATE SET \"id\" = EXCLUDED.\"id\" RETURNING xmax = 0");
}

TEST(StatementBuilderTest, TruncateOptions) {
  TableInfo t = Table(), u = Table("u");
  ferry::v1::TruncateOptions none, both;
  both.set_cascade(true);
  both.set_restart_identity(true);
  EXPECT_EQ(BuildTruncate({&t}, none).sql, "TRUNCATE \"app\".\"t\"");
  EXPECT_EQ(BuildTruncate({&t, &u}, both).sql,
            "TRUNCATE \"app\".\"t\", \"app\".\"u\" RESTART IDENTITY CASCADE");
}

TEST(StatementBuilderTest, QuotesIdentifiers) {
  TableInfo t;
  t.schema = "we\"ird";
  t.table = "Tab le";
  t.columns = {{"I\"d", "integer"}};
  t.unique_keys = {{"I\"d"}};
  auto st = Build(Event("we\"ird", "Tab le", ferry::v1::OP_INSERT).Key({"I\"d"}).Text("I\"d", "1"),
                  t, ConflictRule::kNone);
  ASSERT_TRUE(st.ok()) << st.status.ToString();
  EXPECT_EQ(st.sql,
            "INSERT INTO \"we\"\"ird\".\"Tab le\" (\"I\"\"d\") VALUES ($1) "
            "ON CONFLICT (\"I\"\"d\") DO NOTHING RETURNING true");
}

TEST(StatementBuilderTest, SourceColumnMissingOnTargetNamesColumnAndTable) {
  auto st = Build(Insert("t", "1").Text("extra", "x"), Table());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.status.message().find("\"extra\""), std::string::npos) << st.status.ToString();
  EXPECT_NE(st.status.message().find("\"app\".\"t\""), std::string::npos);
}

TEST(StatementBuilderTest, KeyWithoutMatchingUniqueIndexIsRefused) {
  auto st = Build(Event("app", "t", ferry::v1::OP_INSERT).Key({"v"}).Text("id", "1").Text("v", "a"),
                  Table());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.status.message().find("(\"v\")"), std::string::npos) << st.status.ToString();
  EXPECT_NE(st.status.message().find("\"app\".\"t\""), std::string::npos);

  // No key at all (a table without replica identity): inserts go in as they are.
  auto keyless = Build(Event("app", "t", ferry::v1::OP_INSERT).Text("id", "1"), Table());
  EXPECT_EQ(keyless.sql, "INSERT INTO \"app\".\"t\" (\"id\") VALUES ($1)");
  auto keyless_update = Build(Event("app", "t", ferry::v1::OP_UPDATE).Text("id", "1"), Table());
  EXPECT_EQ(keyless_update.status.code(), Status::Code::kInvalidArgument);
}

TEST(StatementBuilderTest, RefusesMalformedEvents) {
  struct Case {
    const char* what;
    ferry::v1::ChangeEvent event;
  };
  std::vector<Case> cases = {
      {"null key in delete", Event("app", "t", ferry::v1::OP_DELETE).Key({"id"}).OldNull("id")},
      {"delete without old key", Event("app", "t", ferry::v1::OP_DELETE).Key({"id"})},
      {"key missing from new row",
       Event("app", "t", ferry::v1::OP_UPDATE).Key({"id"}).Text("v", "a")},
      {"null key in new row", Event("app", "t", ferry::v1::OP_INSERT).Key({"id"}).Null("id")},
      {"unchanged toast key", Event("app", "t", ferry::v1::OP_UPDATE).Key({"id"}).Toast("id")},
      {"NUL byte in text", Insert("t", "1").Text("v", std::string("a\0b", 3))},
      {"no operation", Event("app", "t", ferry::v1::OP_UNSPECIFIED)},
  };
  for (const auto& c : cases) {
    auto st = Build(c.event, Table());
    EXPECT_TRUE(st.status.IsCorruption()) << c.what << ": " << st.status.ToString();
  }
  ferry::v1::ChangeEvent binary = Insert("t", "1").Binary("n", "\x01");
  binary.mutable_columns(1)->set_type_name("integer");
  auto mismatched = Build(binary, Table());
  EXPECT_EQ(mismatched.status.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(mismatched.status.message().find("binary form of type integer, but the target column is numeric"),
            std::string::npos)
      << mismatched.status.ToString();
}

TEST(StatementBuilderTest, DescribeEventNamesOperationTableAndLsn) {
  ferry::v1::ChangeEvent e = Delete("t", "1").At(0x16B374D848ull, 3);
  EXPECT_EQ(DescribeEvent(e),
            "DELETE on \"app\".\"t\" at commit LSN 16/B374D848 (event 3 of its transaction)");
}

}  // namespace
}  // namespace ferry::apply
