// Snapshot chunks against a real PostgreSQL 15: the keyset query, that chunks
// cover a table exactly once in key order, and that a READ event has the key
// and shape of the stream's insert of the same row.
#include "capture/snapshot_table.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "capture/event_builder.h"
#include "common/copy_text.h"
#include "tests/support/pg_cluster.h"
#include "transport/naming.h"

namespace ferry::capture {
namespace {

TEST(ChunkQueryTest, KeysetPaginationInKeyIndexOrder) {
  SnapshotTable t;
  t.schema = "my schema";
  t.name = "T\"x";
  t.columns = {{"a", 23, -1, "integer", true}, {"v", 25, -1, "text", false}, {"b", 25, -1, "text", true}};
  t.key_order = {2, 0};  // PRIMARY KEY (b, a)
  EXPECT_EQ(BuildChunkQuery(t, false, 100),
            "SELECT \"a\", \"v\", \"b\" FROM ONLY \"my schema\".\"T\"\"x\" ORDER BY \"b\", \"a\" LIMIT 100");
  EXPECT_EQ(BuildChunkQuery(t, true, 5),
            "SELECT \"a\", \"v\", \"b\" FROM ONLY \"my schema\".\"T\"\"x\" WHERE (\"b\", \"a\") > ($1, $2) "
            "ORDER BY \"b\", \"a\" LIMIT 5");
}

// COPY takes no parameters: its bounds are settings of the session, cast
// to the key columns' types, in the order the query's parameters would have.
TEST(ChunkQueryTest, CopyReadsItsBoundsFromSessionSettings) {
  SnapshotTable t;
  t.schema = "s";
  t.name = "t";
  t.columns = {{"a", 23, -1, "integer", true}, {"v", 25, -1, "text", false}, {"b", 25, -1, "text", true}};
  t.key_order = {2, 0};
  auto bound = [](int n, const char* type) {
    return "CAST(current_setting('ferry.chunk_bound_" + std::to_string(n) + "') AS " + type + ")";
  };
  EXPECT_EQ(BuildChunkCopy(t, true, 5, true),
            "COPY (SELECT \"a\", \"v\", \"b\" FROM ONLY \"s\".\"t\" WHERE (\"b\", \"a\") > (" + bound(1, "text") +
                ", " + bound(2, "integer") + ") AND (\"b\", \"a\") <= (" + bound(3, "text") + ", " +
                bound(4, "integer") + ") ORDER BY \"b\", \"a\" LIMIT 5) TO STDOUT");
  EXPECT_EQ(BuildChunkBoundsQuery(2),
            "SELECT set_config('ferry.chunk_bound_1', $1, false), set_config('ferry.chunk_bound_2', $2, false)");
}

class SnapshotTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = testing::PgCluster::Start("snaptable", /*logical=*/false);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cluster_ = std::move(c).value();
    // Key in another order than the columns, and values that sort and quote badly.
    cluster_->Sql(
        "CREATE TABLE c (a int, v text, b text, PRIMARY KEY (b, a));"
        "INSERT INTO c SELECT g % 7, 'v' || g, CASE g % 3 WHEN 0 THEN 'x''y' WHEN 1 THEN 'ä b' ELSE '' END "
        "FROM generate_series(1, 21) g;"
        "CREATE TABLE nokey (a int, v text);"
        "CREATE TABLE full_keyless (a int, v text); ALTER TABLE full_keyless REPLICA IDENTITY FULL;"
        "CREATE TABLE full_keyed (id int PRIMARY KEY, v text); ALTER TABLE full_keyed REPLICA IDENTITY FULL;"
        "INSERT INTO full_keyless VALUES (1, 'x'), (1, 'x'), (2, NULL);"
        "CREATE TABLE parent (id int PRIMARY KEY, v text);"
        "CREATE TABLE child (PRIMARY KEY (id)) INHERITS (parent);"
        "INSERT INTO parent VALUES (1, 'p'); INSERT INTO child VALUES (1, 'c'), (2, 'c');"
        "CREATE TABLE parted (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);"
        "CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (10);"
        "INSERT INTO parted VALUES (1, 'a'), (2, 'b');");
  }
  std::unique_ptr<testing::PgCluster> cluster_;
};

TEST_F(SnapshotTableTest, ChunksCoverTheTableOnceInKeyOrder) {
  auto conn = cluster_->Connect();
  ASSERT_TRUE(conn.ok());
  auto t = LoadSnapshotTable(*conn, "public", "c");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->key_order, (std::vector<size_t>{2, 0}));
  std::set<std::string> seen;
  std::vector<std::string> order;
  std::optional<KeyValues> after;
  int chunks = 0;
  for (bool last = false; !last; ++chunks) {
    std::vector<PgParam> params;
    if (after) params.assign(after->begin(), after->end());
    auto r = conn->ExecParams(BuildChunkQuery(*t, after.has_value(), 4), params);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    int n = PQntuples(r->get());
    for (int i = 0; i < n; ++i) {
      std::string key = KafkaKeyOf(*t, r->get(), i);
      EXPECT_TRUE(seen.insert(key).second) << "row read twice: " << key;
      order.push_back(key);
    }
    if (n > 0) after = KeyOf(*t, r->get(), n - 1);
    last = n < 4;
  }
  EXPECT_EQ(seen.size(), 21u);
  EXPECT_EQ(chunks, 6);
  EXPECT_EQ(order.front(), transport::EncodeRowKey({{"a", "0"}, {"b", ""}})) << "key order: b first, then a";
}

// The COPY of each chunk holds the rows its query returns, in the same order,
// whatever the key's types and values (quotes, non-ASCII, empty strings), and
// the last row's key read back from COPY's text is the query's.
TEST_F(SnapshotTableTest, CopyChunksHoldTheQueryChunksRows) {
  auto conn = cluster_->Connect();
  ASSERT_TRUE(conn.ok());
  auto t = LoadSnapshotTable(*conn, "public", "c");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_TRUE(conn->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ").ok());
  const KeyValues upper{"x'y", "5"};  // the bound of a part (b, a)
  std::optional<KeyValues> after;
  int rows = 0;
  for (bool last = false; !last;) {
    std::vector<PgParam> bounds;
    if (after) bounds.assign(after->begin(), after->end());
    bounds.insert(bounds.end(), upper.begin(), upper.end());
    auto want = conn->ExecParams(BuildChunkQuery(*t, after.has_value(), 4, true), bounds);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    ASSERT_TRUE(conn->ExecParams(BuildChunkBoundsQuery(bounds.size()), bounds).ok());
    std::vector<std::string> lines;
    Status st = conn->CopyOut(BuildChunkCopy(*t, after.has_value(), 4, true), [&](std::string_view line) {
      lines.emplace_back(line);
      return Status::OK();
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
    const int n = PQntuples(want->get());
    ASSERT_EQ(static_cast<int>(lines.size()), n);
    for (int i = 0; i < n; ++i) {
      Status read = ReadCopyRows(lines[i], 3, [&](CopyRow& row) {
        for (int col = 0; col < 3; ++col) EXPECT_EQ(row[col], std::string(PQgetvalue(want->get(), i, col)));
        return Status::OK();
      });
      ASSERT_TRUE(read.ok()) << read.ToString();
    }
    if (n > 0) {
      auto key = KeyOfCopyRow(*t, lines.back());
      ASSERT_TRUE(key.ok()) << key.status().ToString();
      EXPECT_EQ(*key, KeyOf(*t, want->get(), n - 1));
      after = *key;
    }
    rows += n;
    last = n < 4;
  }
  ASSERT_TRUE(conn->Exec("COMMIT").ok());
  EXPECT_EQ(rows, std::stoi(cluster_->Sql("SELECT count(*) FROM c WHERE (b, a) <= ('x''y', 5)")));
  EXPECT_GT(rows, 4);
  EXPECT_EQ(KeyOfCopyRow(*t, "1\tv\n").status().code(), Status::Code::kInvalidArgument) << "two values of three";
  EXPECT_EQ(KeyOfCopyRow(*t, "1\tv\t\\N\n").status().code(), Status::Code::kCorruption) << "a NULL key";
}

TEST_F(SnapshotTableTest, ReadEventMatchesTheStreamsRowShape) {
  auto conn = cluster_->Connect();
  ASSERT_TRUE(conn.ok());
  auto t = LoadSnapshotTable(*conn, "public", "c");
  ASSERT_TRUE(t.ok());
  auto r = conn->Exec("SELECT a, v, b FROM c WHERE a = 1 AND b = 'ä b'");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(PQntuples(r->get()), 1);
  auto e = ReadEventOf(*t, r->get(), 0, "db");
  EXPECT_EQ(e.op(), ferry::v1::OP_READ);
  // pgoutput marks key columns in column order; the stream keys rows that way.
  ASSERT_EQ(e.key_columns_size(), 2);
  EXPECT_EQ(e.key_columns(0), "a");
  EXPECT_EQ(e.key_columns(1), "b");
  EXPECT_EQ(KafkaKeyOf(*t, r->get(), 0), transport::EncodeRowKey({{"a", "1"}, {"b", "ä b"}}));
  EXPECT_EQ(e.columns(2).type_name(), "text");
  EXPECT_TRUE(e.columns(0).is_key());
  EXPECT_FALSE(e.columns(1).is_key());
}

TEST_F(SnapshotTableTest, TableWithoutKeyIsRefusedClearly) {
  auto conn = cluster_->Connect();
  ASSERT_TRUE(conn.ok());
  auto t = LoadSnapshotTable(*conn, "public", "nokey");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(t.status().message().find("public.nokey has no primary key"), std::string::npos) << t.status().ToString();
  EXPECT_TRUE(LoadSnapshotTable(*conn, "public", "missing").status().IsNotFound());
}

// An inheritance child is a table of its own: its parent's chunks hold the
// parent's rows only. A partitioned root (publish_via_partition_root) is read
// with its partitions.
TEST_F(SnapshotTableTest, ChunksOfAParentHoldItsOwnRowsAndOfAPartitionedRootEveryPartitionsRows) {
  auto conn = cluster_->Connect();
  ASSERT_TRUE(conn.ok());
  for (auto [table, rows] : {std::pair{"parent", 1}, std::pair{"child", 2}, std::pair{"parted", 2}}) {
    auto t = LoadSnapshotTable(*conn, "public", table);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    auto r = conn->Exec(BuildChunkQuery(*t, false, 100));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(PQntuples(r->get()), rows) << table;
  }
}

// FULL identity: every column is "key" and the Kafka key is the table's, as in
// the stream; such tables are copied (keyless ones whole) but never read
// between watermarks.
TEST_F(SnapshotTableTest, FullIdentityTablesTakeTheTableKeyAndRefuseWatermarks) {
  auto conn = cluster_->Connect();
  ASSERT_TRUE(conn.ok());
  const std::string table_key = transport::TableKey("public", "full_keyless");
  auto keyless = LoadSnapshotTable(*conn, "public", "full_keyless");
  ASSERT_TRUE(keyless.ok()) << keyless.status().ToString();
  EXPECT_TRUE(keyless->keyless());
  EXPECT_EQ(BuildChunkQuery(*keyless, false, 10), "SELECT \"a\", \"v\" FROM ONLY \"public\".\"full_keyless\"");
  auto rows = conn->Exec(BuildChunkQuery(*keyless, false, 10));
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(PQntuples(rows->get()), 3);
  EXPECT_EQ(KafkaKeyOf(*keyless, rows->get(), 0), table_key);
  auto e = ReadEventOf(*keyless, rows->get(), 2, "db");
  EXPECT_EQ(e.key_columns_size(), 2);
  EXPECT_TRUE(e.columns(1).is_key());
  EXPECT_EQ(e.columns(1).kind(), ferry::v1::Column::KIND_NULL);
  EXPECT_EQ(RequireKey(*keyless, "test").code(), Status::Code::kInvalidArgument);

  auto keyed = LoadSnapshotTable(*conn, "public", "full_keyed");
  ASSERT_TRUE(keyed.ok()) << keyed.status().ToString();
  EXPECT_FALSE(keyed->keyless());  // chunked by the primary key
  EXPECT_TRUE(keyed->full_identity);
  Status refused = RequireKey(*keyed, "incremental snapshot");
  EXPECT_NE(refused.message().find("REPLICA IDENTITY FULL"), std::string::npos) << refused.ToString();
}

// PostgreSQL 15 publications: only the listed columns are read, only the rows
// the filter publishes; a list without the whole key leaves no key to chunk by.
TEST_F(SnapshotTableTest, PublishedTableKeepsToTheColumnListAndRowFilter) {
  auto conn = cluster_->Connect();
  ASSERT_TRUE(conn.ok());
  cluster_->Sql(
      "CREATE TABLE pub (id int PRIMARY KEY, secret text, v text, g int GENERATED ALWAYS AS (id * 2) STORED);"
      "INSERT INTO pub (id, secret, v) SELECT g, 's', 'v' || g FROM generate_series(1, 10) g;"
      "CREATE PUBLICATION narrow FOR TABLE pub (v, id) WHERE (id > 6), c (a, v) WITH (publish = 'insert');"
      "CREATE PUBLICATION wide FOR TABLE pub, c;");
  auto t = LoadPublishedTable(*conn, "narrow", "public", "pub");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->columns.size(), 2u);
  EXPECT_EQ(t->columns[0].name, "id");  // table order, as pgoutput sends them
  EXPECT_EQ(t->columns[1].name, "v");
  EXPECT_EQ(t->key_order, (std::vector<size_t>{0}));
  EXPECT_EQ(BuildChunkQuery(*t, true, 3),
            "SELECT \"id\", \"v\" FROM ONLY \"public\".\"pub\" WHERE ((id > 6)) AND (\"id\") > ($1) "
            "ORDER BY \"id\" LIMIT 3");
  auto rows = conn->ExecParams(BuildChunkQuery(*t, true, 3), {"7"});
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(PQntuples(rows->get()), 3);
  EXPECT_EQ(std::string(PQgetvalue(rows->get(), 0, 0)), "8");

  auto partial_key = LoadPublishedTable(*conn, "narrow", "public", "c");
  ASSERT_TRUE(partial_key.ok()) << partial_key.status().ToString();
  EXPECT_TRUE(partial_key->keyless()) << "key (b, a) without b cannot order chunks";
  EXPECT_TRUE(partial_key->columns[0].is_key) << "a is still marked key, as pgoutput marks it";

  auto all = LoadPublicationTables(*conn, "wide");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  for (const auto& table : *all) {
    if (table.name != "pub") continue;
    EXPECT_EQ(table.columns.size(), 3u) << "every column but the generated one";
    EXPECT_EQ(table.row_filter, "");
  }
  EXPECT_TRUE(LoadPublishedTable(*conn, "narrow", "public", "parent").status().IsNotFound());
}

}  // namespace
}  // namespace ferry::capture
