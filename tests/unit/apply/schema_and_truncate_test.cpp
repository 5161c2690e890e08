// TargetWriter against a real target: TRUNCATE of several tables in one source
// statement, --truncate skip, --create-tables and --evolve-schema.
#include <gtest/gtest.h>

#include "apply/target_writer.h"
#include "tests/unit/apply/apply_test_support.h"

namespace ferry::apply {
namespace {

using testing::Event;
using Events = std::vector<ferry::v1::ChangeEvent>;

class SchemaAndTruncateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = testing::SharedTarget();
    ASSERT_NE(cluster_, nullptr);
    Sql("SET client_min_messages = warning; DROP SCHEMA IF EXISTS app CASCADE; CREATE SCHEMA app;"
        "CREATE TABLE app.p (id int PRIMARY KEY);"
        "CREATE TABLE app.c (id int PRIMARY KEY, p int REFERENCES app.p);"
        "INSERT INTO app.p VALUES (1); INSERT INTO app.c VALUES (1, 1)");
  }
  std::unique_ptr<TargetWriter> Writer(TargetWriterOptions o) {
    auto w = TargetWriter::Connect(cluster_->conninfo(), o);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(w).value() : nullptr;
  }
  std::string Sql(const std::string& sql) { return cluster_->Sql(sql); }
  static ferry::v1::ChangeEvent Truncate(const std::string& table) {
    ferry::v1::ChangeEvent e = Event("app", table, ferry::v1::OP_TRUNCATE).At(0x900, 0);
    e.set_lsn(0x8F0);
    return e;
  }

  ferry::testing::PgCluster* cluster_ = nullptr;
};

TEST_F(SchemaAndTruncateTest, TablesOfOneTruncateGoTogether) {
  auto w = Writer({});
  ASSERT_NE(w, nullptr);
  // `TRUNCATE app.p, app.c` arrives as one event per table; alone, app.p's
  // would be refused (app.c references it).
  Status s = w->ApplyBatch(Events{Truncate("p"), Truncate("c")});
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Sql("SELECT (SELECT count(*) FROM app.p) + (SELECT count(*) FROM app.c)"), "0");
}

TEST_F(SchemaAndTruncateTest, TruncateSkip) {
  auto w = Writer({.skip_truncate = true});
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->ApplyBatch(Events{Truncate("p"), Truncate("c")}).ok());
  EXPECT_EQ(Sql("SELECT (SELECT count(*) FROM app.p) + (SELECT count(*) FROM app.c)"), "2");
}

// A re-copy's clear (capture/snapshot_recopy.h) of a table other rows
// reference: a TRUNCATE would be refused whatever the role; in replica mode a
// DELETE clears it and leaves the referencing rows (they reference rows the
// copy brings back). Under --truncate skip too: it is not a source TRUNCATE.
TEST_F(SchemaAndTruncateTest, ARecopyClearsAReferencedTableAndKeepsTheRowsReferencingIt) {
  ferry::v1::ChangeEvent clear = Truncate("p");
  clear.mutable_truncate()->set_recopy(true);
  Sql("CREATE TABLE app.kid () INHERITS (app.p); INSERT INTO app.kid VALUES (7)");
  for (bool skip : {false, true}) {
    Sql("INSERT INTO app.p VALUES (1) ON CONFLICT DO NOTHING");
    auto w = Writer({.skip_truncate = skip});
    ASSERT_NE(w, nullptr);
    Status s = w->ApplyBatch(Events{clear});
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(Sql("SELECT count(*) FROM ONLY app.p"), "0");
    EXPECT_EQ(Sql("SELECT count(*) FROM app.c"), "1");
    EXPECT_EQ(Sql("SELECT count(*) FROM app.kid"), "1") << "an inheritance child is a table of its own";
  }
  // A source TRUNCATE keeps its meaning: refused here, as on the source.
  auto w = Writer({});
  ASSERT_NE(w, nullptr);
  Status plain = w->ApplyBatch(Events{Truncate("p")});
  EXPECT_NE(plain.message().find("cannot truncate a table referenced in a foreign key constraint"), std::string::npos)
      << plain.ToString();
}

TEST_F(SchemaAndTruncateTest, CreateTablesAndEvolveSchema) {
  auto typed = [](Event e, const char* name, const char* type, int typmod, const char* v) {
    e.Text(name, v);
    ferry::v1::ChangeEvent ev = e;
    auto* c = ev.mutable_columns(ev.columns_size() - 1);
    c->set_type_name(type);
    c->set_type_modifier(typmod);
    return ev;
  };
  auto row = [&](const char* id) {
    return typed(Event("app", "fresh", ferry::v1::OP_INSERT).Key({"id"}), "id", "integer", -1, id);
  };
  // Without --create-tables a missing table stops apply.
  auto plain = Writer({});
  ASSERT_NE(plain, nullptr);
  Status missing = plain->ApplyBatch(Events{row("1")});
  EXPECT_NE(missing.message().find("\"app\".\"fresh\" does not exist"), std::string::npos)
      << missing.ToString();

  auto w = Writer({.create_tables = true, .evolve_schema = true});
  ASSERT_NE(w, nullptr);
  ferry::v1::ChangeEvent first = row("1");
  *first.add_columns() = typed(Event("app", "fresh", ferry::v1::OP_INSERT), "price", "numeric",
                               (10 << 16 | 2) + 4, "1.50")
                             .columns(0);
  ASSERT_TRUE(w->ApplyBatch(Events{first}).ok());
  EXPECT_EQ(Sql("SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY "
                "attnum) FROM pg_attribute WHERE attrelid = 'app.fresh'::regclass AND attnum > 0"),
            "id integer, price numeric(10,2)");
  EXPECT_EQ(Sql("SELECT count(*) FROM pg_index WHERE indrelid = 'app.fresh'::regclass AND indisprimary"),
            "1");

  // A column added on the source: an error naming it without --evolve-schema...
  ferry::v1::ChangeEvent second = row("2");
  *second.add_columns() =
      typed(Event("app", "fresh", ferry::v1::OP_INSERT), "tags", "text[]", -1, "{a,b}").columns(0);
  Status not_evolved = plain->ApplyBatch(Events{second});
  EXPECT_EQ(not_evolved.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(not_evolved.message().find("column \"tags\" does not exist in target table "
                                       "\"app\".\"fresh\": add it to the target, or run apply "
                                       "with --evolve-schema"),
            std::string::npos)
      << not_evolved.ToString();
  // ...added with it.
  ASSERT_TRUE(w->ApplyBatch(Events{second}).ok());
  EXPECT_EQ(Sql("SELECT string_agg(id || ':' || coalesce(price::text, '-') || ':' || "
                "coalesce(tags::text, '-'), ' ' ORDER BY id) FROM app.fresh"),
            "1:1.50:- 2:-:{a,b}");
  // A column the source no longer sends stays on the target, untouched.
  ASSERT_TRUE(w->ApplyBatch(Events{row("3")}).ok());
  EXPECT_EQ(Sql("SELECT count(*) FROM app.fresh WHERE price IS NOT NULL"), "1");
}

// A REPLICA IDENTITY FULL table without a key: its events mark every column as
// key. --create-tables creates it without a primary key, so identical rows
// coexist on the target as they do on the source, and a delete removes one.
TEST_F(SchemaAndTruncateTest, CreateTablesGivesAKeylessFullIdentityTableNoPrimaryKey) {
  auto full = [](ferry::v1::Operation op, const char* a, const char* b, uint32_t index) {
    ferry::v1::ChangeEvent e = Event("app", "bag", op).Key({"a", "b"}).Text("a", a).Text("b", b).At(0x2000, index);
    for (auto [i, type] : {std::pair{0, "integer"}, std::pair{1, "text"}}) {
      e.mutable_columns(i)->set_type_name(type);
      e.mutable_columns(i)->set_type_modifier(-1);
    }
    if (op == ferry::v1::OP_DELETE) {  // the whole old row, as pgoutput sends it for FULL
      e.set_old_tuple(ferry::v1::ChangeEvent::OLD_FULL);
      e.mutable_old_columns()->Swap(e.mutable_columns());
    }
    return e;
  };
  auto w = Writer({.create_tables = true});
  ASSERT_NE(w, nullptr);
  Status s = w->ApplyBatch(Events{full(ferry::v1::OP_INSERT, "1", "x", 0), full(ferry::v1::OP_INSERT, "1", "x", 1),
                                  full(ferry::v1::OP_INSERT, "2", "y", 2)});
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Sql("SELECT count(*) FROM pg_index WHERE indrelid = 'app.bag'::regclass"), "0");
  EXPECT_EQ(Sql("SELECT count(*) FROM app.bag WHERE a = 1 AND b = 'x'"), "2");
  s = w->ApplyBatch(Events{full(ferry::v1::OP_DELETE, "1", "x", 3)});
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Sql("SELECT string_agg(a || b, ' ' ORDER BY a, b) FROM app.bag"), "1x 2y");
}

}  // namespace
}  // namespace ferry::apply
