// The SQL text and parameters for each event shape, and the events and tables
// the replace rule refuses. No server needed.
#include "apply/statement_builder.h"

#include <gtest/gtest.h>

#include "tests/unit/apply/apply_test_support.h"

namespace ferry::apply {
namespace {

using testing::Delete;
using testing::Event;
using testing::Insert;
using testing::Update;

TableInfo Table() {
  TableInfo t;
  t.schema = "app";
  t.table = "t";
  t.columns = {{"id", "integer"}, {"v", "text"}, {"big", "text"}, {"n", "numeric"}};
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

Built Build(const ferry::v1::ChangeEvent& e, const TableInfo& table) {
  auto st = BuildReplaceStatement(e, table);
  if (!st.ok()) return {st.status(), "", {}};
  Built out{Status::OK(), st->sql, {}};
  for (const char* p : st->params) out.params.push_back(p ? p : "<NULL>");
  return out;
}

TEST(StatementBuilderTest, UpsertWritesCarriedColumnsAndSkipsUnchangedToast) {
  auto st = Build(Update("t", "7").Text("v", "x").Toast("big").Null("n"), Table());
  ASSERT_TRUE(st.ok()) << st.status.ToString();
  EXPECT_EQ(st.sql,
            "INSERT INTO \"app\".\"t\" (\"id\", \"v\", \"n\") VALUES ($1, $2, $3) "
            "ON CONFLICT (\"id\") DO UPDATE SET \"v\" = EXCLUDED.\"v\", \"n\" = EXCLUDED.\"n\"");
  EXPECT_EQ(st.params, (std::vector<std::string>{"7", "x", "<NULL>"}));
}

TEST(StatementBuilderTest, InsertAndReadShareTheUpsert) {
  auto ins = Build(Insert("t", "1").Text("v", "a"), Table());
  auto read = Build(
      Event("app", "t", ferry::v1::OP_READ).Key({"id"}).Text("id", "1").Text("v", "a"), Table());
  ASSERT_TRUE(ins.ok());
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(ins.sql, read.sql);
}

TEST(StatementBuilderTest, KeyOnlyRowDoesNothingOnConflict) {
  auto st = Build(Insert("t", "1").Toast("big"), Table());
  ASSERT_TRUE(st.ok()) << st.status.ToString();
  EXPECT_EQ(st.sql,
            "INSERT INTO \"app\".\"t\" (\"id\") VALUES ($1) ON CONFLICT (\"id\") DO NOTHING");
}

TEST(StatementBuilderTest, DeleteByOldKey) {
  TableInfo t = Table();
  t.unique_keys = {{"id", "v"}};
  auto st = Build(
      Event("app", "t", ferry::v1::OP_DELETE).Key({"v", "id"}).OldText("id", "3").OldText("v", "b"),
      t);
  ASSERT_TRUE(st.ok()) << st.status.ToString();
  EXPECT_EQ(st.sql, "DELETE FROM \"app\".\"t\" WHERE \"v\" = $1 AND \"id\" = $2");
  EXPECT_EQ(st.params, (std::vector<std::string>{"b", "3"}));
}

TEST(StatementBuilderTest, TruncateOptions) {
  auto plain = Build(Event("app", "t", ferry::v1::OP_TRUNCATE), Table());
  auto both = Build(Event("app", "t", ferry::v1::OP_TRUNCATE).TruncateOptions(true, true), Table());
  ASSERT_TRUE(plain.ok());
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(plain.sql, "TRUNCATE \"app\".\"t\"");
  EXPECT_EQ(both.sql, "TRUNCATE \"app\".\"t\" RESTART IDENTITY CASCADE");
}

TEST(StatementBuilderTest, QuotesIdentifiers) {
  TableInfo t;
  t.schema = "we\"ird";
  t.table = "Tab le";
  t.columns = {{"I\"d", "integer"}};
  t.unique_keys = {{"I\"d"}};
  auto st =
      Build(Event("we\"ird", "Tab le", ferry::v1::OP_INSERT).Key({"I\"d"}).Text("I\"d", "1"), t);
  ASSERT_TRUE(st.ok()) << st.status.ToString();
  EXPECT_EQ(st.sql,
            "INSERT INTO \"we\"\"ird\".\"Tab le\" (\"I\"\"d\") VALUES ($1) "
            "ON CONFLICT (\"I\"\"d\") DO NOTHING");
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

  auto keyless = Build(Event("app", "t", ferry::v1::OP_INSERT).Text("id", "1"), Table());
  EXPECT_EQ(keyless.status.code(), Status::Code::kInvalidArgument);
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
  auto binary = Build(Insert("t", "1").Binary("v", "\x01"), Table());
  EXPECT_EQ(binary.status.code(), Status::Code::kInvalidArgument);
}

TEST(StatementBuilderTest, DescribeEventNamesOperationTableAndLsn) {
  ferry::v1::ChangeEvent e = Delete("t", "1").At(0x16B374D848ull, 3);
  EXPECT_EQ(DescribeEvent(e),
            "DELETE on \"app\".\"t\" at commit LSN 16/B374D848 (event 3 of its transaction)");
}

}  // namespace
}  // namespace ferry::apply
