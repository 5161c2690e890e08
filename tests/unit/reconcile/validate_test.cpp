// Validate against two real clusters: what is compared, how differences are
// narrowed to rows, and repair.
#include "reconcile/validate.h"

#include <gtest/gtest.h>

#include "reconcile/validate_report.h"
#include "tests/unit/reconcile/reconcile_clusters.h"

namespace ferry::reconcile {
// gtest output: "missing (id 5)".
void PrintTo(const RowMismatch& m, std::ostream* os) {
  *os << RowProblemName(m.problem) << " (";
  for (size_t i = 0; i < m.key.size(); ++i) *os << (i ? ", " : "") << m.key[i];
  *os << ")";
}
}  // namespace ferry::reconcile

namespace ferry::testing {
namespace {

using reconcile::RowMismatch;
using reconcile::RowProblem;
using reconcile::TableName;

class ValidateTest : public TwoClustersTest {
 protected:
  reconcile::ValidateOptions Options(std::vector<TableName> tables) {
    reconcile::ValidateOptions o;
    o.source_conninfo = source_->conninfo();
    o.target_conninfo = target_->conninfo();
    o.tables = std::move(tables);
    o.settle_timeout = std::chrono::milliseconds(0);
    return o;
  }
  reconcile::TableReport ValidateOne(const std::string& table, int64_t chunk_rows = 10000,
                                     int64_t fetch_rows = 1000) {
    auto o = Options({{"public", table}});
    o.chunk_rows = chunk_rows;
    o.fetch_rows = fetch_rows;
    auto r = reconcile::Validate(o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || r->tables.size() != 1) return {};
    return r->tables[0];
  }
};

// Values whose text form depends on session settings, written on a target
// whose defaults differ from the source's in every one of them.
TEST_F(ValidateTest, EqualDataOfEveryTypeMatchesWhateverTheSessionDefaults) {
  target_->Sql("ALTER DATABASE postgres SET DateStyle = 'SQL, DMY'");
  target_->Sql("ALTER DATABASE postgres SET TimeZone = 'America/New_York'");
  target_->Sql("ALTER DATABASE postgres SET IntervalStyle = 'sql_standard'");
  target_->Sql("ALTER DATABASE postgres SET extra_float_digits = -2");
  target_->Sql("ALTER DATABASE postgres SET bytea_output = 'escape'");
  OnBoth(R"sql(
    CREATE TABLE typed (region text, at timestamptz, seq int, amount numeric(30, 10), ratio float8,
      span interval, day date, tags text[], blob bytea, doc jsonb, note text,
      PRIMARY KEY (region, at, seq));
    SET TimeZone = 'Asia/Kolkata';
    INSERT INTO typed SELECT 'r' || (g % 7), timestamptz '2024-02-29 23:59:59.123456+05:30' + g * interval '1 hour',
      g, g * 1.0000000001, 1.0 / g, g * interval '1 day 3 minutes', date '2000-01-01' + g,
      ARRAY['a"b', NULL, 'c,d'], decode(md5(g::text), 'hex'), jsonb_build_object('g', g, 'q', 'x"y'),
      CASE WHEN g % 3 = 0 THEN NULL ELSE E'line\nbreak ' || g END
    FROM generate_series(1, 3000) g)sql");
  auto t = ValidateOne("typed", /*chunk_rows=*/500);
  EXPECT_TRUE(t.Matches()) << t.mismatches.size() << " rows differ";
  EXPECT_EQ(t.source_rows, 3000);
  EXPECT_EQ(t.target_rows, 3000);
  EXPECT_EQ(t.chunks, 7) << "3000 rows cut every 500th key: 6 boundaries";
  EXPECT_EQ(t.key_columns, (std::vector<std::string>{"region", "at", "seq"}));
  target_->Sql("ALTER DATABASE postgres RESET ALL");
}

TEST_F(ValidateTest, SplitsLargeChunksAndListsExactlyTheDifferingRows) {
  OnBoth("CREATE TABLE big (id bigint PRIMARY KEY, v text); "
         "INSERT INTO big SELECT g, 'v' || g FROM generate_series(1, 20000) g");
  target_->Sql("DELETE FROM big WHERE id = 777; UPDATE big SET v = 'changed' WHERE id = 15001; "
               "INSERT INTO big VALUES (25000, 'extra'), (0, 'extra')");
  auto t = ValidateOne("big", /*chunk_rows=*/10000, /*fetch_rows=*/50);
  EXPECT_EQ(t.mismatched_chunks, 3);
  // Key order here: 0 and 777 end up in different fetched sub-ranges.
  EXPECT_EQ(t.mismatches, (std::vector<RowMismatch>{{{"0"}, RowProblem::kExtra},
                                                    {{"777"}, RowProblem::kMissing},
                                                    {{"15001"}, RowProblem::kDifferent},
                                                    {{"25000"}, RowProblem::kExtra}}));
  EXPECT_TRUE(t.seen_at_lsn.IsValid());
}

TEST_F(ValidateTest, ComparesOnlyColumnsBothSidesHaveByName) {
  source_->Sql("CREATE TABLE shaped (id int PRIMARY KEY, a text, b int)");
  target_->Sql("CREATE TABLE shaped (b int, extra text DEFAULT 'target only', id int PRIMARY KEY, a text)");
  OnBoth("INSERT INTO shaped (id, a, b) SELECT g, 'a' || g, g FROM generate_series(1, 100) g");
  EXPECT_TRUE(ValidateOne("shaped").Matches());
  target_->Sql("UPDATE shaped SET b = -1 WHERE id = 42");
  EXPECT_EQ(ValidateOne("shaped").mismatches, (std::vector<RowMismatch>{{{"42"}, RowProblem::kDifferent}}));
}

TEST_F(ValidateTest, UsesANotNullUniqueIndexWhenThereIsNoPrimaryKey) {
  OnBoth("CREATE TABLE uniq (a int, b text NOT NULL, c int NOT NULL, UNIQUE (a), UNIQUE (c, b)); "
         "INSERT INTO uniq SELECT g, 'b' || g, g FROM generate_series(1, 100) g");
  target_->Sql("DELETE FROM uniq WHERE c = 5");
  auto t = ValidateOne("uniq");
  EXPECT_EQ(t.key_columns, (std::vector<std::string>{"c", "b"})) << "a is nullable";
  EXPECT_EQ(t.mismatches, (std::vector<RowMismatch>{{{"5", "b5"}, RowProblem::kMissing}}));
}

TEST_F(ValidateTest, ComparesAKeylessTableAsAMultisetOfRows) {
  OnBoth("CREATE TABLE bag (v int, w text); INSERT INTO bag VALUES (1, 'x'), (1, 'x'), (2, NULL)");
  EXPECT_TRUE(ValidateOne("bag").Matches());
  target_->Sql("DELETE FROM bag WHERE ctid = (SELECT min(ctid) FROM bag WHERE v = 1); "
               "INSERT INTO bag VALUES (3, 'y')");
  auto t = ValidateOne("bag");
  EXPECT_EQ(t.key_source, "none");
  EXPECT_EQ(t.mismatches, (std::vector<RowMismatch>{{{"(1,x)"}, RowProblem::kMissing},
                                                    {{"(3,y)"}, RowProblem::kExtra}}));
}

// An inheritance child is a table of its own: its parent is compared on the
// parent's own rows, whether the target has the same inheritance or plain
// tables. A partitioned table is compared whole.
TEST_F(ValidateTest, ComparesAnInheritanceParentOnItsOwnRowsAndAPartitionedTableWhole) {
  source_->Sql("CREATE TABLE vparent (id int PRIMARY KEY, v text); "
               "CREATE TABLE vchild (PRIMARY KEY (id)) INHERITS (vparent); "
               "CREATE TABLE vparted (id int PRIMARY KEY, v text) PARTITION BY RANGE (id); "
               "CREATE TABLE vparted_low PARTITION OF vparted FOR VALUES FROM (0) TO (1000)");
  target_->Sql("CREATE TABLE vparent (id int PRIMARY KEY, v text); CREATE TABLE vchild (id int PRIMARY KEY, v text); "
               "CREATE TABLE vparted (id int PRIMARY KEY, v text)");
  OnBoth("INSERT INTO vparent SELECT g, 'p' || g FROM generate_series(1, 50) g; "
         "INSERT INTO vchild SELECT g, 'c' || g FROM generate_series(101, 120) g; "
         "INSERT INTO vparted SELECT g, 'x' || g FROM generate_series(1, 30) g");
  auto parent = ValidateOne("vparent");
  EXPECT_TRUE(parent.Matches()) << parent.mismatches.size() << " rows differ";
  EXPECT_EQ(parent.source_rows, 50);
  EXPECT_EQ(parent.target_rows, 50);
  auto parted = ValidateOne("vparted");
  EXPECT_TRUE(parted.Matches());
  EXPECT_EQ(parted.source_rows, 30);

  // Partitioned on one side, an inheritance parent on the other: no way to read the same rows.
  source_->Sql("CREATE TABLE vmixed (id int PRIMARY KEY) PARTITION BY RANGE (id)");
  target_->Sql("CREATE TABLE vmixed (id int PRIMARY KEY); CREATE TABLE vmixed_kid () INHERITS (vmixed)");
  auto mixed = reconcile::Validate(Options({{"public", "vmixed"}}));
  ASSERT_EQ(mixed.status().code(), Status::Code::kInvalidArgument) << mixed.status().ToString();
  EXPECT_NE(mixed.status().message().find("public.vmixed is partitioned on the source but has inheritance "
                                          "children on the target"),
            std::string::npos)
      << mixed.status().ToString();
  OnBoth("DROP TABLE vmixed CASCADE");  // the suite's other tests validate every table
}

TEST_F(ValidateTest, RepairMakesTheTargetEqualThroughTheConflictRule) {
  OnBoth("CREATE TABLE fixme (id int PRIMARY KEY, v text, n numeric, t timestamptz, "
         "v_len int GENERATED ALWAYS AS (length(v)) STORED); "
         "INSERT INTO fixme SELECT g, 'v' || g, g / 3.0, '2020-01-01'::timestamptz + g * interval '1 s' "
         "FROM generate_series(1, 1000) g");
  target_->Sql("DELETE FROM fixme WHERE id = 10; UPDATE fixme SET v = NULL WHERE id = 20; "
               "INSERT INTO fixme VALUES (5000, 'extra', 0, now())");
  // Generated columns are compared but never written (the target computes them).

  auto o = Options({{"public", "fixme"}});
  o.repair = true;
  o.conflict = apply::ConflictRule::kNone;
  auto r = reconcile::Validate(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tables[0].repaired.upserted, 1) << "none inserts the missing row only";
  EXPECT_EQ(r->tables[0].mismatches, (std::vector<RowMismatch>{{{"20"}, RowProblem::kDifferent},
                                                               {{"5000"}, RowProblem::kExtra}}));

  o.conflict = apply::ConflictRule::kReplace;
  r = reconcile::Validate(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->Matches()) << reconcile::FormatValidateReport(*r, 10);
  EXPECT_EQ(r->tables[0].repaired.upserted, 1);
  EXPECT_EQ(r->tables[0].repaired.deleted, 1);
  EXPECT_TRUE(ValidateOne("fixme").Matches());
  EXPECT_EQ(target_->Sql("SELECT v || ' ' || v_len FROM fixme WHERE id = 20"), "v20 3");
}

TEST_F(ValidateTest, KeylessTablesAreReportedNotRepaired) {
  OnBoth("CREATE TABLE loose (v int); INSERT INTO loose VALUES (1)");
  target_->Sql("INSERT INTO loose VALUES (2)");
  auto o = Options({{"public", "loose"}});
  o.repair = true;
  auto r = reconcile::Validate(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->Matches());
  EXPECT_NE(r->tables[0].repair_error.find("no primary key"), std::string::npos) << r->tables[0].repair_error;
}

TEST_F(ValidateTest, DefaultTableListSkipsTablesTheTargetLacksAndAListedMissingTableIsAnError) {
  source_->Sql("CREATE SCHEMA only_src; CREATE TABLE only_src.t (id int PRIMARY KEY)");
  auto all = reconcile::Validate(Options({}));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  bool skipped = false;
  for (const auto& s : all->skipped) skipped = skipped || s.Display() == "only_src.t";
  EXPECT_TRUE(skipped);
  auto listed = reconcile::Validate(Options({{"only_src", "t"}}));
  EXPECT_EQ(listed.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(listed.status().message().find("only_src.t"), std::string::npos);
}

}  // namespace
}  // namespace ferry::testing
