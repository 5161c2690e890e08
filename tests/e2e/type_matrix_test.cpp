// Every built-in type family round-trips exactly: a table with one column per
// type and rows of edge values, the source and target sessions in different
// TimeZone, DateStyle and IntervalStyle. Each column is compared source vs
// target with IS NOT DISTINCT FROM (typed, where the type has equality) and as
// text printed under the same settings (which also tells -0 from 0). Generated
// columns are computed by the target; identity columns take the source value.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

constexpr const char* kTypes =
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'it''s \"great\"');"
    "CREATE DOMAIN posint AS int CHECK (VALUE > 0);"
    "CREATE TYPE pair AS (x int, label text);";

constexpr const char* kTable =
    "CREATE TABLE matrix (id int PRIMARY KEY,"
    " c_int2 smallint, c_int4 int, c_int8 bigint, c_num numeric, c_num_scaled numeric(40,20),"
    " c_real real, c_float8 double precision, c_text text, c_varchar varchar(10), c_char char(5),"
    " c_qchar \"char\", c_bytea bytea, c_bool bool, c_date date, c_time time, c_timetz timetz,"
    " c_ts timestamp, c_tstz timestamptz, c_interval interval, c_uuid uuid, c_json json,"
    " c_jsonb jsonb, c_xml xml, c_inet inet, c_cidr cidr, c_mac macaddr, c_mac8 macaddr8,"
    " c_bit bit(4), c_varbit varbit, c_tsv tsvector, c_tsq tsquery, c_point point, c_line line,"
    " c_lseg lseg, c_box box, c_path path, c_polygon polygon, c_circle circle,"
    " c_int4range int4range, c_tstzrange tstzrange, c_numrange numrange, c_multi int4multirange,"
    " c_money money, c_intarr int[], c_textarr text[], c_2d int[][], c_enum mood,"
    " c_domain posint, c_comp pair, c_comparr pair[],"
    " c_gen int GENERATED ALWAYS AS (id * 2) STORED,"
    " c_ident bigint GENERATED ALWAYS AS IDENTITY)";

constexpr const char* kRows =
    "INSERT INTO matrix (id, c_int2, c_int4, c_int8, c_num, c_num_scaled, c_real, c_float8,"
    " c_text, c_varchar, c_char, c_qchar, c_bytea, c_bool, c_date, c_time, c_timetz, c_ts, c_tstz,"
    " c_interval, c_uuid, c_json, c_jsonb, c_xml, c_inet, c_cidr, c_mac, c_mac8, c_bit, c_varbit,"
    " c_tsv, c_tsq, c_point, c_line, c_lseg, c_box, c_path, c_polygon, c_circle, c_int4range,"
    " c_tstzrange, c_numrange, c_multi, c_money, c_intarr, c_textarr, c_2d, c_enum, c_domain,"
    " c_comp, c_comparr) VALUES "
    "(1, 32767, -2147483648, 9223372036854775807, 'NaN', '12345678901234567890.12345678901234567890',"
    " 'NaN', '-0', E'line1\\nline2\\ttab \\\\ back ''q'' \"dq\" \\u00fc\\u00ef', 'abc', 'ab', 'x',"
    " '\\x00ff10', true, 'infinity', '24:00:00', '23:59:59.999999+14:59', '-infinity', 'infinity',"
    " '1 year 2 mons -3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',"
    " '{\"b\": 1,  \"a\": [1, 2.50, \"x\"]}', '{\"b\": 1, \"a\": [1, 2.50, \"x\"]}',"
    " '<a b=\"1\">t&amp;</a>', '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03',"
    " '08:00:2b:01:02:03:04:05', B'1010', B'101', 'a fat:1A cat:2B', 'fat & (rat | cat)',"
    " '(1.5,-2)', '{1,-1,0}', '[(0,0),(1,1)]', '(1,1),(0,0)', '[(0,0),(1,1),(2,0)]',"
    " '((0,0),(1,1),(1,0))', '<(0,0),5>', '[1,10)', '[2020-01-01 00:00+00,infinity)', '(,5.5]',"
    " '{[1,3), [5,7)}', '-92233720368547758.08', '{1,NULL,3}',"
    " '{\"a\\\"b\",\"c,d\",NULL,\"NULL\",\"\",\"{}\"}', '{{1,2},{3,NULL}}', 'it''s \"great\"', 7,"
    " '(1,\"a \"\"q\"\", b\")', ARRAY['(1,x)'::pair, NULL]),"
    "(2, -32768, 0, -9223372036854775808, (repeat('9', 1000) || '.' || repeat('1', 100))::numeric,"
    " '-0.00000000000000000001', '-Infinity', '1.7976931348623157e308', '', '', '', '\\\\',"
    " '', false, '0044-03-15 BC', '00:00:00', '00:00:00-15:59', '1999-12-31 23:59:59.999999',"
    " '2021-03-14 02:30:00.123456-05', '-178000000 years', '00000000-0000-0000-0000-000000000000',"
    " '[]', '{}', '<x/>', '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00:00:00',"
    " B'0000', B'', '', 'a', '(0,0)', '{0,1,-1}', '[(1e-300,2),(3,4)]', '(0,0),(0,0)',"
    " '((0,0),(1,1))', '((0,0))', '<(1,2),0.5>', 'empty', '(,)', 'empty', '{}', '0',"
    " '[0:1]={1,2}', '{}', '{{NULL,NULL},{NULL,NULL}}', 'sad', 2147483647, '(,)', '{}'),"
    "(3, NULL, NULL, NULL, NULL, NULL, 'Infinity', 'NaN', NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL)";

// Printing settings shared by both sides of the comparison.
constexpr const char* kSameSettings =
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres';"
    " SET extra_float_digits = 3;";

std::vector<std::string> SplitColumns(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

void SetSessionDefaults(PgCluster& c, const std::string& settings) {
  c.Sql("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I ', current_database()) || $q$" + settings +
        "$q$; END $$");
}

TEST(TypeMatrixTest, EveryTypeRoundTripsExactly) {
  auto p = Pipeline::Start("types");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.CreateOnBoth(std::string(kTypes) + kTable);
  pl.target().Sql("ALTER TABLE matrix ALTER c_ident RESTART WITH 1000");
  // Sessions (capture's and apply's too) start with these unless they set their own.
  for (const char* s : {"SET TimeZone = 'America/New_York'", "SET DateStyle = 'SQL, DMY'",
                        "SET IntervalStyle = 'sql_standard'"}) {
    SetSessionDefaults(pl.source(), s);
  }
  for (const char* s : {"SET TimeZone = 'Asia/Kolkata'", "SET DateStyle = 'German, DMY'",
                        "SET IntervalStyle = 'iso_8601'", "SET extra_float_digits = -10"}) {
    SetSessionDefaults(pl.target(), s);
  }
  ASSERT_TRUE(pl.StartApply());
  ASSERT_TRUE(pl.StartCapture());
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();
  pl.source().Sql(kRows);
  // An update and a delete travel the same way.
  pl.source().Sql("INSERT INTO matrix (id, c_text) VALUES (4, 'gone'); DELETE FROM matrix WHERE id = 4;"
                  "UPDATE matrix SET c_float8 = '-0', c_real = '-0' WHERE id = 3");
  ASSERT_TRUE(pl.WaitConverged("matrix", "id", seconds(60)))
      << pl.Diff("matrix", "id") << "\napply log:\n" << pl.apply().LogTail();

  // Types without an equality operator are compared as text only.
  const std::vector<std::string> no_equality = {"c_json", "c_xml", "c_point", "c_line", "c_path",
                                                "c_polygon"};
  std::string columns = pl.source().Sql(
      "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ';' ORDER BY attnum) "
      "FROM pg_attribute WHERE attrelid = 'matrix'::regclass AND attnum > 0");
  int compared = 0;
  for (const auto& spec : SplitColumns(columns)) {
    auto space = spec.find(' ');
    std::string name = spec.substr(0, space), type = spec.substr(space + 1);
    std::string values = pl.target().Sql(
        std::string(kSameSettings) + "SELECT string_agg(format('(%s,%s)', id, quote_nullable(" +
        name + "::text)), ',' ORDER BY id) FROM matrix");
    bool typed = std::find(no_equality.begin(), no_equality.end(), name) == no_equality.end();
    std::string differing = pl.source().Sql(
        std::string(kSameSettings) + "SELECT count(*) || ':' || coalesce(string_agg(id::text, ','), '') "
        "FROM matrix m FULL JOIN (VALUES " + values + ") v(id, txt) USING (id) WHERE m IS NULL OR "
        "v.id IS NULL OR m." + name + "::text IS DISTINCT FROM v.txt" +
        (typed ? " OR m." + name + " IS DISTINCT FROM v.txt::" + type : std::string()));
    EXPECT_EQ(differing, "0:") << name << " " << type << " differs in rows; target has " << values;
    ++compared;
  }
  EXPECT_EQ(compared, 53);
  EXPECT_EQ(pl.target().Sql("SELECT string_agg(c_ident || ':' || c_gen, ',' ORDER BY id) FROM matrix"),
            "1:2,2:4,3:6");
}

}  // namespace
}  // namespace ferry::testing
