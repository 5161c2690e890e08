// What real sources send besides plain row changes, end to end, in one
// pipeline: a table without replica identity refused at capture start;
// REPLICA IDENTITY FULL with duplicate rows; TRUNCATE (several tables, CASCADE,
// RESTART IDENTITY); a partitioned table published as its root; a table
// created after start (on both sides, and only on the source with
// --create-tables); a column added on the source (apply stops naming it, then
// adds it with --evolve-schema) and a column dropped on the source.
#include <gtest/gtest.h>

#include "tests/support/eventually.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

TEST(SchemaChangesTest, IdentityTruncatePartitionsNewTablesAndColumns) {
  auto p = Pipeline::Start("schema");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.CreateOnBoth(
      "CREATE TABLE items (id serial PRIMARY KEY, v text);"
      "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY);"
      "CREATE TABLE parent (id int PRIMARY KEY);"
      "CREATE TABLE child (id int PRIMARY KEY, p int REFERENCES parent);"
      "CREATE TABLE dup (a int, b text); ALTER TABLE dup REPLICA IDENTITY FULL;"
      "CREATE TABLE evolving (id int PRIMARY KEY, v text)");
  pl.source().Sql(
      "CREATE TABLE meas (id int, at date, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);"
      "CREATE TABLE meas_2020 PARTITION OF meas FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');"
      "CREATE TABLE meas_2021 PARTITION OF meas FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');"
      "CREATE TABLE nothing_t (x int); ALTER TABLE nothing_t REPLICA IDENTITY NOTHING;"
      "CREATE TABLE nokey (x int)");
  pl.target().Sql("CREATE TABLE meas (id int, at date, v text, PRIMARY KEY (id, at))");

  // Capture refuses tables whose updates and deletes it cannot replicate.
  ASSERT_TRUE(pl.StartCapture({"--publish-via-partition-root"}));
  EXPECT_EQ(pl.capture().Wait(std::chrono::seconds(60)), 2) << pl.capture().LogTail();
  std::string refused = ReadWholeFile(pl.capture().log_path());
  EXPECT_NE(refused.find("public.nokey (no primary key), public.nothing_t (REPLICA IDENTITY NOTHING)"),
            std::string::npos)
      << pl.capture().LogTail();
  pl.source().Sql("DROP TABLE nothing_t; ALTER TABLE nokey REPLICA IDENTITY FULL");

  ASSERT_TRUE(pl.StartApply());
  ASSERT_TRUE(pl.StartCapture({"--publish-via-partition-root"}));
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();
  EXPECT_EQ(pl.source().Sql("SELECT pubviaroot FROM pg_publication"), "t");

  // RI FULL: duplicates updated and deleted one copy at a time.
  pl.source().Sql("INSERT INTO dup VALUES (1, NULL), (1, NULL), (1, NULL), (2, 'x')");
  pl.source().Sql("UPDATE dup SET b = 'one' WHERE ctid = (SELECT ctid FROM dup WHERE a = 1 LIMIT 1)");
  pl.source().Sql("DELETE FROM dup WHERE ctid = (SELECT ctid FROM dup WHERE b IS NULL LIMIT 1)");
  pl.source().Sql("UPDATE dup SET a = 3 WHERE b = 'x'");
  // Partitions published as the root, a row moving between partitions included.
  pl.source().Sql("INSERT INTO meas VALUES (1, '2020-05-01', 'a'), (2, '2021-05-01', 'b'), "
                  "(3, '2020-06-01', 'c')");
  pl.source().Sql("UPDATE meas SET v = 'b2' WHERE id = 2; DELETE FROM meas WHERE id = 3;"
                  "UPDATE meas SET at = '2021-01-02' WHERE id = 1");
  pl.source().Sql("INSERT INTO items (v) SELECT 'i' || g FROM generate_series(1, 5) g;"
                  "INSERT INTO a VALUES (1), (2); INSERT INTO b VALUES (1);"
                  "INSERT INTO parent VALUES (1), (2); INSERT INTO child VALUES (1, 1)");
  for (const char* t : {"dup", "meas", "items", "a", "b", "parent", "child"}) {
    EXPECT_TRUE(pl.WaitConverged(t, "1", seconds(60))) << t << ": " << pl.Diff(t, "1");
  }
  EXPECT_EQ(pl.target().Sql("SELECT string_agg(a || ':' || coalesce(b, '-'), ' ' ORDER BY a, b) FROM dup"),
            "1:one 1:- 3:x");
  EXPECT_EQ(pl.target().Sql("SELECT string_agg(id || ':' || at || ':' || v, ' ' ORDER BY id) FROM meas"),
            "1:2021-01-02:a 2:2021-05-01:b2");

  // TRUNCATE: two tables in one statement, CASCADE, RESTART IDENTITY.
  pl.source().Sql("TRUNCATE a, b");
  pl.source().Sql("TRUNCATE parent CASCADE");
  pl.source().Sql("TRUNCATE items RESTART IDENTITY");
  EXPECT_TRUE(Eventually([&] {
    return pl.target().Sql("SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b) + "
                           "(SELECT count(*) FROM parent) + (SELECT count(*) FROM child) + "
                           "(SELECT count(*) FROM items)") == "0";
  }, seconds(60))) << pl.apply().LogTail();
  pl.source().Sql("INSERT INTO items (v) VALUES ('after')");
  EXPECT_TRUE(pl.WaitConverged("items", "id", seconds(60))) << pl.Diff("items", "id");
  EXPECT_EQ(pl.target().Sql("SELECT id FROM items"), "1") << "the source's sequence restarted";

  // A table created on both sides after start replicates.
  pl.CreateOnBoth("CREATE TABLE later (id int PRIMARY KEY, v text)");
  pl.source().Sql("INSERT INTO later VALUES (1, 'x'), (2, 'y')");
  EXPECT_TRUE(pl.WaitConverged("later", "id", seconds(60))) << pl.Diff("later", "id");

  // A column added on the source stops apply, naming it...
  pl.source().Sql("ALTER TABLE evolving ADD COLUMN extra int; INSERT INTO evolving VALUES (1, 'a', 42)");
  EXPECT_EQ(pl.apply().Wait(std::chrono::seconds(60)), 2) << pl.apply().LogTail();
  EXPECT_NE(ReadWholeFile(pl.apply().log_path()).find("column \"extra\" does not exist in target table "
                                                 "\"public\".\"evolving\""),
            std::string::npos)
      << pl.apply().LogTail();
  // ...and --evolve-schema adds it; --create-tables creates a table only the source has.
  pl.source().Sql("CREATE TABLE fresh (id int PRIMARY KEY, at timestamptz, tags text[]);"
                  "INSERT INTO fresh VALUES (1, '2024-02-29 12:00+01', '{a,\"b c\"}')");
  ASSERT_TRUE(pl.StartApply({"--evolve-schema", "--create-tables"}));
  EXPECT_TRUE(pl.WaitConverged("evolving", "id", seconds(60))) << pl.Diff("evolving", "id")
                                                               << pl.apply().LogTail();
  EXPECT_TRUE(pl.WaitConverged("fresh", "id", seconds(60))) << pl.Diff("fresh", "id")
                                                            << pl.apply().LogTail();
  // A column dropped on the source stays on the target, untouched.
  pl.source().Sql("ALTER TABLE evolving DROP COLUMN v; INSERT INTO evolving VALUES (2, 43)");
  EXPECT_TRUE(Eventually([&] { return pl.target().Sql("SELECT count(*) FROM evolving") == "2"; },
                      seconds(60)))
      << pl.apply().LogTail();
  EXPECT_EQ(pl.target().Sql("SELECT string_agg(id || ':' || coalesce(v, '-') || ':' || extra, ' ' "
                            "ORDER BY id) FROM evolving"),
            "1:a:42 2:-:43");
}

}  // namespace
}  // namespace ferry::testing
