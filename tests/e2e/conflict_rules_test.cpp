// Each conflict rule end to end (capture -> broker -> apply): rows placed on the
// target in advance meet an insert, an update and a delete from the source; a
// 1 MB value stored out of line is carried as unchanged TOAST by an update of
// another column. The resulting rows and the conflict counts apply reports.
#include <gtest/gtest.h>

#include <csignal>

#include "tests/support/eventually.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

class ConflictRulesE2eTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConflictRulesE2eTest, RuleResolvesEachKindAndCountsIt) {
  const std::string rule = GetParam();
  auto p = Pipeline::Start("conflict-" + rule);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.CreateOnBoth("CREATE TABLE t (id int PRIMARY KEY, v text, n int, body text);"
                  "ALTER TABLE t ALTER body SET STORAGE EXTERNAL");
  pl.target().Sql("ALTER TABLE t ADD COLUMN tonly text DEFAULT 'dflt'");
  const std::string mb = "repeat('x', 1000000)";
  // Before capture streams: rows only the source has, and rows the target has.
  pl.source().Sql("INSERT INTO t VALUES (2, 's2', 0, NULL), (3, 's3', 0, NULL), (4, 's4', 0, " +
                  mb + ")");
  pl.target().Sql("INSERT INTO t VALUES (1, 'target', 0, NULL, 'kept1'), (4, 's4', 0, " + mb +
                  ", 'kept4')");
  ASSERT_TRUE(pl.StartApply({"--conflict", rule, "--log-conflicts"}));
  // No initial snapshot: the rows placed in advance are what the events meet.
  ASSERT_TRUE(pl.StartCapture({"--snapshot", "never"}));
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();

  pl.source().Sql("INSERT INTO t VALUES (1, 'src', 1, NULL)");  // insert_exists
  pl.source().Sql("UPDATE t SET v = 'u2' WHERE id = 2");         // update_missing
  pl.source().Sql("DELETE FROM t WHERE id = 3");                 // delete_missing
  pl.source().Sql("UPDATE t SET n = 5 WHERE id = 4");            // body: unchanged TOAST
  pl.source().Sql("INSERT INTO t VALUES (99, 'last', 0, NULL)");
  ASSERT_TRUE(Eventually([&] { return pl.target().Sql("SELECT count(*) FROM t WHERE id = 99") == "1"; },
                      seconds(60)))
      << pl.apply().LogTail();

  std::string rows = pl.target().Sql(
      "SELECT string_agg(id || ',' || v || ',' || n || ',' || coalesce(length(body)::text, '-') "
      "|| ',' || tonly, ' ' ORDER BY id) FROM t");
  const std::string row4 = " 4,s4,5,1000000,kept4 99,last,0,-,dflt";
  const std::string expected_rows = rule == "replace" ? "1,src,1,-,dflt 2,u2,0,-,dflt" + row4
                                    : rule == "merge" ? "1,src,1,-,kept1 2,u2,0,-,dflt" + row4
                                                      : "1,target,0,-,kept1" + row4;
  EXPECT_EQ(rows, expected_rows);

  pl.apply().Signal(SIGTERM);
  ASSERT_EQ(pl.apply().Wait(std::chrono::seconds(30)), 0) << pl.apply().LogTail();
  std::string log = ReadWholeFile(pl.apply().log_path());
  const std::string resolved = rule == "replace" ? "overwritten" : rule == "merge" ? "merged" : "skipped";
  const std::string missing = rule == "none" ? "skipped" : "inserted";
  std::string expected = "conflicts: \"public\".\"t\" insert_exists/" + resolved +
                         "=1, \"public\".\"t\" update_missing/" + missing +
                         "=1, \"public\".\"t\" delete_missing/skipped=1";
  EXPECT_NE(log.find(expected), std::string::npos) << expected << "\nnot in\n" << pl.apply().LogTail();
  EXPECT_NE(log.find("conflict insert_exists (" + resolved + "): INSERT on \"public\".\"t\""),
            std::string::npos)
      << "--log-conflicts logs the event\n" << pl.apply().LogTail();
}

INSTANTIATE_TEST_SUITE_P(Rules, ConflictRulesE2eTest, ::testing::Values("replace", "merge", "none"));

}  // namespace
}  // namespace ferry::testing
