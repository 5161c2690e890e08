// An update that changes the primary key but not a TOASTed column: pgoutput
// sends that column as "unchanged TOAST", yet the row moves to a new key (a
// delete and an insert on the target). The value must arrive all the same.
#include <gtest/gtest.h>

#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

TEST(ToastKeyChangeTest, KeyChangeKeepsUnchangedToastedColumns) {
  auto p = Pipeline::Start("toastkey");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.CreateOnBoth(
      "CREATE TABLE docs (id int PRIMARY KEY, title text, body text NOT NULL)");
  ASSERT_TRUE(pl.StartApply());
  ASSERT_TRUE(pl.StartCapture());
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();
  // ~200 KB of incompressible text per row: stored out of line (TOAST).
  const std::string big = "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 6000))";
  pl.source().Sql("INSERT INTO docs SELECT g, 't' || g, " + big + " FROM generate_series(1, 3) g");
  pl.source().Sql("UPDATE docs SET id = id + 100, title = 'moved' WHERE id <= 2");
  // Moved and then changed again in one transaction, and a moved row deleted later.
  pl.source().Sql("BEGIN; UPDATE docs SET id = 200 WHERE id = 3; UPDATE docs SET body = 'short' WHERE id = 200; COMMIT;");
  pl.source().Sql("UPDATE docs SET id = 300 WHERE id = 101; DELETE FROM docs WHERE id = 300;");

  EXPECT_TRUE(pl.WaitConverged("docs", "id", seconds(60)))
      << pl.Diff("docs", "id") << "\ncapture log:\n" << pl.capture().LogTail() << "\napply log:\n"
      << pl.apply().LogTail();
  EXPECT_EQ(pl.target().Sql("SELECT string_agg(id || ':' || length(body), ',' ORDER BY id) FROM docs"),
            "102:192000,200:5");
}

}  // namespace
}  // namespace ferry::testing
