// TableCatalog against a real target: columns, which unique keys can be
// ON CONFLICT arbiters, the missing-table error, and the cache.
#include "apply/table_catalog.h"

#include <gtest/gtest.h>

#include "tests/unit/apply/apply_test_support.h"

namespace ferry::apply {
namespace {

class TableCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = testing::SharedTarget();
    ASSERT_NE(cluster_, nullptr);
    cluster_->Sql(
        "SET client_min_messages = warning; DROP SCHEMA IF EXISTS cat CASCADE; CREATE SCHEMA cat");
    auto conn = cluster_->Connect();
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    conn_ = std::move(conn).value();
  }
  ferry::testing::PgCluster* cluster_ = nullptr;
  PgConn conn_;
};

TEST_F(TableCatalogTest, ReadsColumnsAndUsableUniqueKeys) {
  cluster_->Sql(
      "CREATE TABLE cat.t (a int, b text, c int, d int, e int, f int, g text, "
      "n numeric(40,0), dropped int, PRIMARY KEY (b, a));"
      "ALTER TABLE cat.t DROP COLUMN dropped;"
      "CREATE UNIQUE INDEX ON cat.t (c) INCLUDE (d);"
      "CREATE UNIQUE INDEX ON cat.t (e) WHERE e > 0;"  // partial: not an arbiter
      "ALTER TABLE cat.t ADD UNIQUE (f) DEFERRABLE;"   // deferrable: not an arbiter
      "CREATE UNIQUE INDEX ON cat.t (lower(g));");     // expression: not an arbiter
  TableCatalog catalog(&conn_);
  auto info = catalog.Get("cat", "t");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  std::vector<std::string> names;
  for (const auto& c : (*info)->columns) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "d", "e", "f", "g", "n"}));
  EXPECT_EQ((*info)->FindColumn("n")->type, "numeric(40,0)");
  EXPECT_EQ((*info)->FindColumn("dropped"), nullptr);
  EXPECT_EQ((*info)->unique_keys, (std::vector<std::vector<std::string>>{{"b", "a"}, {"c"}}));
  EXPECT_TRUE((*info)->HasUniqueKey({"a", "b"}));
  EXPECT_TRUE((*info)->HasUniqueKey({"c"}));
  EXPECT_FALSE((*info)->HasUniqueKey({"a"}));
  EXPECT_FALSE((*info)->HasUniqueKey({"c", "d"}));
  EXPECT_FALSE((*info)->HasUniqueKey({"e"}));
}

TEST_F(TableCatalogTest, RefusesMissingTablesAndViews) {
  TableCatalog catalog(&conn_);
  auto missing = catalog.Get("cat", "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(missing.status().message(),
            "target table \"cat\".\"nope\" does not exist: create it first");

  cluster_->Sql("CREATE VIEW cat.v AS SELECT 1 AS id");
  auto view = catalog.Get("cat", "v");
  ASSERT_FALSE(view.ok());
  EXPECT_EQ(view.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(view.status().message().find("not a table"), std::string::npos);
}

TEST_F(TableCatalogTest, CachesUntilRefreshed) {
  cluster_->Sql("CREATE TABLE cat.t (id int PRIMARY KEY)");
  TableCatalog catalog(&conn_);
  ASSERT_TRUE(catalog.Get("cat", "t").ok());
  cluster_->Sql("ALTER TABLE cat.t ADD COLUMN v text");
  EXPECT_EQ((*catalog.Get("cat", "t"))->FindColumn("v"), nullptr);
  auto fresh = catalog.Refresh("cat", "t");
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE((*fresh)->FindColumn("v"), nullptr);
}

}  // namespace
}  // namespace ferry::apply
