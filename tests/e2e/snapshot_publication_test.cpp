// A publication's column lists and row filters (PostgreSQL 15) apply to the
// initial copy exactly as to the stream: the target ends with the rows the
// filter publishes, and only the listed columns (the others keep the target's
// default), whether a row arrived by the copy or by a change.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

// The rows of `query` on `c`, as text, in `order_by` order.
std::vector<std::string> QueryRows(const PgCluster& c, const std::string& query, const std::string& order_by) {
  return Pipeline::Rows(c, "(" + query + ")", order_by);
}

TEST(SnapshotPublicationTest, CopyKeepsToTheColumnListAndTheRowFilter) {
  auto started = Pipeline::Start("snap-pubfilter");
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  Pipeline& pl = **started;
  // The target has every column; `secret` is not published and keeps its default.
  pl.CreateOnBoth(
      "CREATE TABLE accounts (id int PRIMARY KEY, name text, secret text DEFAULT 'hidden', region int);"
      "CREATE TABLE logbook (region int, line text); ALTER TABLE logbook REPLICA IDENTITY FULL;");
  PgCluster& src = pl.source();
  src.Sql("INSERT INTO accounts SELECT g, 'n' || g, 's' || g, g % 5 FROM generate_series(1, 30000) g");
  src.Sql("INSERT INTO logbook SELECT g % 5, 'l' || g FROM generate_series(1, 9000) g");
  // A filter on an updated table may use only its replica identity's columns.
  src.Sql("CREATE PUBLICATION ferry FOR TABLE accounts (id, name, region) WHERE (id % 3 <> 0), "
          "logbook WHERE (region IN (1, 2))");
  ASSERT_TRUE(pl.StartApply());
  ASSERT_TRUE(pl.StartCapture({"--snapshot-chunk-rows", "4000"}));
  ASSERT_TRUE(pl.WaitCaptureStreaming(seconds(120))) << pl.capture().LogTail();
  // Streamed changes meet the same filter (pgoutput applies it).
  src.Sql("UPDATE accounts SET name = 'u' || id, secret = 'changed' WHERE id % 7 = 0");
  src.Sql("INSERT INTO accounts SELECT g, 'late', 'x', 1 FROM generate_series(30001, 30100) g");
  src.Sql("INSERT INTO logbook VALUES (1, 'late'), (3, 'late')");

  const std::string want_accounts = "SELECT id, name, 'hidden'::text AS secret, region FROM accounts WHERE id % 3 <> 0";
  const std::string want_logbook = "SELECT region, line FROM logbook WHERE region IN (1, 2)";
  auto deadline = std::chrono::steady_clock::now() + seconds(180);
  while (std::chrono::steady_clock::now() < deadline &&
         (QueryRows(src, want_accounts, "id") != Pipeline::Rows(pl.target(), "accounts", "id") ||
          QueryRows(src, want_logbook, "region, line") != Pipeline::Rows(pl.target(), "logbook", "region, line"))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(pl.target().Sql("SELECT count(*) FROM accounts"), src.Sql("SELECT count(*) FROM accounts WHERE id % 3 <> 0"));
  EXPECT_EQ(pl.target().Sql("SELECT count(*) FROM accounts WHERE secret <> 'hidden'"), "0")
      << "a column outside the column list was copied";
  EXPECT_EQ(pl.target().Sql("SELECT count(*) FROM logbook"), src.Sql("SELECT count(*) FROM logbook WHERE region IN (1, 2)"));
  EXPECT_TRUE(QueryRows(src, want_accounts, "id") == Pipeline::Rows(pl.target(), "accounts", "id"));
  EXPECT_TRUE(QueryRows(src, want_logbook, "region, line") == Pipeline::Rows(pl.target(), "logbook", "region, line"))
      << pl.apply().LogTail();
}

}  // namespace
}  // namespace ferry::testing
