// Values travel as PostgreSQL's text output form and come out on the target as
// the same values: quoting, unicode, NULLs, numeric precision, time zones,
// jsonb, bytea, arrays.
#include <gtest/gtest.h>

#include "apply/target_writer.h"
#include "tests/unit/apply/apply_test_support.h"

namespace ferry::apply {
namespace {

using testing::Event;

class TargetWriterValuesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = testing::SharedTarget();
    ASSERT_NE(cluster_, nullptr);
    cluster_->Sql(
        "SET client_min_messages = warning; DROP SCHEMA IF EXISTS vals CASCADE; CREATE SCHEMA vals;"
        "CREATE TABLE vals.v (id int PRIMARY KEY, t text, n numeric, ts timestamptz, "
        "j jsonb, b bytea, arr text[], f float8, i interval, x int)");
  }
  void TearDown() override {
    if (cluster_ != nullptr) cluster_->Sql("ALTER DATABASE postgres RESET TimeZone");
  }
  // true when the SQL predicate holds for row `id`.
  bool Holds(int id, const std::string& predicate) {
    return cluster_->Sql("SELECT (" + predicate +
                         ") IS TRUE FROM vals.v WHERE id = " + std::to_string(id)) == "t";
  }
  ferry::testing::PgCluster* cluster_ = nullptr;
};

TEST_F(TargetWriterValuesTest, TextFormsRoundTrip) {
  // The target session's TimeZone differs from the offset the value carries.
  cluster_->Sql("ALTER DATABASE postgres SET TimeZone = 'Pacific/Chatham'");
  auto writer = TargetWriter::Connect(cluster_->conninfo(), {});
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  EXPECT_EQ(cluster_->Sql("SHOW TimeZone"), "Pacific/Chatham");

  const std::string text = "it's \"quoted\"\n\tsecond line; \\ backslash; ünïcödé ☃ 日本 🚀";
  const std::string numeric = "123456789012345678901234567890.000000000000000000000000000001";
  std::vector<ferry::v1::ChangeEvent> batch = {
      Event("vals", "v", ferry::v1::OP_INSERT)
          .Key({"id"})
          .Text("id", "1")
          .Text("t", text)
          .Text("n", numeric)
          .Text("ts", "2024-03-10 23:30:00.123456+05:30")
          .Text("j", R"({"a": [1, 2.50, "x\"y"], "b": null, "ü": "\u00e9"})")
          .Text("b", "\\x00ff5c27")
          .Text("arr", R"({"a\"b","c,d",NULL,"NULL","",plain})")
          .Text("f", "0.30000000000000004")
          .Text("i", "1 year 2 mons 3 days 04:05:06.789")
          .Null("x"),
      Event("vals", "v", ferry::v1::OP_INSERT)
          .Key({"id"})
          .Text("id", "2")
          .Null("t")
          .Null("n")
          .Null("ts")
          .Null("j")
          .Null("b")
          .Null("arr")
          .Null("f")
          .Null("i")
          .Null("x"),
  };
  Status s = (*writer)->ApplyBatch(batch);
  ASSERT_TRUE(s.ok()) << s.ToString();

  EXPECT_EQ(cluster_->Sql("SELECT t FROM vals.v WHERE id = 1"), text);
  EXPECT_EQ(cluster_->Sql("SELECT n::text FROM vals.v WHERE id = 1"), numeric);
  EXPECT_TRUE(Holds(1, "ts = '2024-03-10 18:00:00.123456+00'"));
  EXPECT_TRUE(Holds(1, R"(j = '{"b": null, "a": [1, 2.5, "x\"y"], "ü": "é"}'::jsonb)"));
  EXPECT_EQ(cluster_->Sql("SELECT encode(b, 'hex') FROM vals.v WHERE id = 1"), "00ff5c27");
  EXPECT_TRUE(Holds(1,
                    "cardinality(arr) = 6 AND arr[1] = 'a\"b' AND arr[2] = 'c,d' AND "
                    "arr[3] IS NULL AND arr[4] = 'NULL' AND arr[5] = '' AND arr[6] = 'plain'"));
  EXPECT_TRUE(Holds(1, "f = 0.1::float8 + 0.2::float8"));
  EXPECT_TRUE(Holds(1, "i = '1 year 2 months 3 days 4 hours 5 minutes 6.789 seconds'"));
  EXPECT_TRUE(Holds(1, "x IS NULL"));
  EXPECT_TRUE(Holds(2,
                    "t IS NULL AND n IS NULL AND ts IS NULL AND j IS NULL AND b IS NULL AND "
                    "arr IS NULL AND f IS NULL AND i IS NULL AND x IS NULL"));
}

TEST_F(TargetWriterValuesTest, KeyValuesNeedNoEscaping) {
  cluster_->Sql("CREATE TABLE vals.k (k text PRIMARY KEY, v int)");
  auto writer = TargetWriter::Connect(cluster_->conninfo(), {});
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  const std::string key = "a'b\"c; DROP TABLE vals.k; --\n☃";
  std::vector<ferry::v1::ChangeEvent> batch = {
      Event("vals", "k", ferry::v1::OP_INSERT).Key({"k"}).Text("k", key).Text("v", "1"),
      Event("vals", "k", ferry::v1::OP_UPDATE).Key({"k"}).Text("k", key).Text("v", "2")};
  ASSERT_TRUE((*writer)->ApplyBatch(batch).ok());
  EXPECT_EQ(cluster_->Sql("SELECT k || '|' || v FROM vals.k"), key + "|2");
  batch = {Event("vals", "k", ferry::v1::OP_DELETE).Key({"k"}).OldText("k", key)};
  ASSERT_TRUE((*writer)->ApplyBatch(batch).ok());
  EXPECT_EQ(cluster_->Sql("SELECT count(*) FROM vals.k"), "0");
}

// Capture asks for text, but values in a type's binary send form are bound
// in binary (e.g. from a producer that asked pgoutput for binary).
TEST_F(TargetWriterValuesTest, BinaryValuesAreBoundInBinary) {
  auto writer = TargetWriter::Connect(cluster_->conninfo(), {});
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  ferry::v1::ChangeEvent e = Event("vals", "v", ferry::v1::OP_INSERT)
                                 .Key({"id"})
                                 .Text("id", "7")
                                 .Binary("x", std::string("\x00\x00\x01\x02", 4))
                                 .Binary("b", std::string("\x00\xff\x00", 3))
                                 .Binary("f", std::string("\xbf\xf0\x00\x00\x00\x00\x00\x00", 8));
  e.mutable_columns(1)->set_type_name("integer");
  e.mutable_columns(2)->set_type_name("bytea");
  e.mutable_columns(3)->set_type_name("double precision");
  Status s = (*writer)->ApplyBatch(std::vector<ferry::v1::ChangeEvent>{e});
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(Holds(7, "x = 258 AND b = '\\x00ff00'::bytea AND f = -1"));
}

}  // namespace
}  // namespace ferry::apply
