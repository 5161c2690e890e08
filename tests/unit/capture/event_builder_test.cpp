// EventBuilder over real pgoutput from PostgreSQL 15: what each row change
// becomes, with keys and transaction fields, and how each transaction ends.
#include "capture/event_builder.h"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "common/copy_text.h"
#include "common/lz4_block.h"
#include "tests/support/pg_cluster.h"
#include "transport/naming.h"
#include "transport/row_batch.h"

namespace ferry::capture {
namespace {

using ferry::v1::ChangeEvent;

struct Published {
  std::string key;
  ChangeEvent event;
};

class RecordingSink : public ChangeSink {
 public:
  Status BeginTransaction(Lsn commit_lsn, Xid) override {
    begins.push_back(commit_lsn);
    return Status::OK();
  }
  Status Publish(const std::string& key, const ChangeEvent& e) override {
    if (e.op() == ferry::v1::OP_END) {
      if (!key.empty()) return Status::Internal("an end marker has no key");
      ends.push_back(e);
    } else {
      events.push_back({key, e});
    }
    return Status::OK();
  }
  Status CommitTransaction(Lsn, Lsn end_lsn) override {
    commits.push_back(end_lsn);
    return Status::OK();
  }
  std::vector<Lsn> begins, commits;
  std::vector<Published> events;  // changes
  std::vector<ChangeEvent> ends;  // OP_END markers
};

class EventBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = testing::PgCluster::Start("builder", /*logical=*/true);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cluster_ = std::move(c).value();
    cluster_->Sql(
        "CREATE TABLE s1 (a int, b text, v text, PRIMARY KEY (a, b));"
        "CREATE PUBLICATION p FOR ALL TABLES;");
    cluster_->Sql("SELECT pg_create_logical_replication_slot('s', 'pgoutput')");
  }

  // Decodes every message the slot holds through an EventBuilder; the first
  // failure, if any.
  Status Decode(RecordingSink& sink, Lsn skip_before = Lsn(), RowFetcher* fetcher = nullptr,
                const std::function<void(EventBuilder&)>& prepare = {}) {
    FERRY_ASSIGN_OR_RETURN(PgConn conn, cluster_->Connect());
    FERRY_ASSIGN_OR_RETURN(
        PgResult r, conn.Exec("SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes('s', NULL, "
                              "NULL, 'proto_version', '1', 'publication_names', 'p', 'messages', 'true')"));
    EventBuilder builder({"postgres", skip_before, 77, replicate_origins_, batch_rows_},
                         {{23, "integer"}, {25, "text"}}, sink, fetcher);
    if (prepare) prepare(builder);
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      size_t len = 0;
      unsigned char* raw =
          PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r.get(), i, 1)), &len);
      std::string bytes(reinterpret_cast<char*>(raw), len);
      PQfreemem(raw);
      builder.set_current_lsn(*Lsn::Parse(PQgetvalue(r.get(), i, 0)));
      FERRY_RETURN_IF_ERROR(PgOutputDecoder::Decode(bytes, builder));
    }
    if (builder.in_transaction()) return Status::Internal("stream ended inside a transaction");
    return Status::OK();
  }

  void Replay(RecordingSink& sink, Lsn skip_before = Lsn(), RowFetcher* fetcher = nullptr) {
    Status st = Decode(sink, skip_before, fetcher);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  std::unique_ptr<testing::PgCluster> cluster_;
  bool replicate_origins_ = false;
  size_t batch_rows_ = 0;  // BuilderOptions::insert_batch_rows
};

// A row batch's rows, decompressed and decoded.
std::vector<CopyRow> BatchRows(const ChangeEvent& batch) {
  std::string text = batch.copy_rows();
  if (batch.copy_rows_lz4_size() != 0) {
    std::string plain;
    EXPECT_TRUE(Lz4Decompress(batch.copy_rows(), batch.copy_rows_lz4_size(), plain).ok());
    text = plain;
  }
  std::vector<CopyRow> rows;
  Status st = ReadCopyRows(text, static_cast<size_t>(batch.columns_size()), [&](CopyRow& row) {
    rows.push_back(row);
    return Status::OK();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return rows;
}

// A transaction a ferry apply wrote (marked with one of ferry's replication
// origins) publishes nothing, yet reaches the sink's commit, so the slot moves
// past it; another origin's transaction is published, and with
// replicate_origins (chains A -> B -> C) ferry's are too.
TEST_F(EventBuilderTest, TransactionsOfFerryOriginsAreDroppedYetCommitted) {
  cluster_->Sql("SELECT pg_replication_origin_create('ferry_up'); SELECT pg_replication_origin_create('native')");
  cluster_->Sql("SELECT pg_replication_origin_session_setup('ferry_up'); INSERT INTO s1 VALUES (1, 'a', 'back')");
  cluster_->Sql("SELECT pg_replication_origin_session_setup('native'); INSERT INTO s1 VALUES (2, 'b', 'on')");
  cluster_->Sql("INSERT INTO s1 VALUES (3, 'c', 'local')");

  RecordingSink sink;
  Replay(sink);
  EXPECT_EQ(sink.begins.size(), 3u);
  EXPECT_EQ(sink.commits.size(), 3u) << "the dropped transaction still ends, so the slot moves past it";
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[0].event.origin(), "native");
  EXPECT_EQ(sink.events[1].event.origin(), "");
  EXPECT_EQ(sink.ends.size(), 2u) << "no end marker for a transaction that published nothing";

  replicate_origins_ = true;
  RecordingSink chained;
  Replay(chained);
  ASSERT_EQ(chained.events.size(), 3u);
  EXPECT_EQ(chained.events[0].event.origin(), "ferry_up");
}

TEST_F(EventBuilderTest, RowChangesBecomeEventsKeyedByTheirRow) {
  cluster_->Sql("INSERT INTO s1 VALUES (1, 'x', 'first'), (2, 'y', NULL)");
  cluster_->Sql("BEGIN; INSERT INTO s1 VALUES (9, 'gone', 'rolled back'); ROLLBACK;");
  cluster_->Sql("UPDATE s1 SET v = 'second' WHERE a = 1");
  cluster_->Sql("UPDATE s1 SET a = 3 WHERE a = 2");
  cluster_->Sql("DELETE FROM s1 WHERE a = 1");

  RecordingSink sink;
  Replay(sink);
  ASSERT_EQ(sink.begins.size(), 4u) << "the rolled-back transaction is never sent";
  ASSERT_EQ(sink.commits.size(), 4u);
  ASSERT_EQ(sink.events.size(), 6u);

  const std::string key1 = transport::EncodeRowKey({{"a", "1"}, {"b", "x"}});
  const std::string key2 = transport::EncodeRowKey({{"a", "2"}, {"b", "y"}});
  const std::string key3 = transport::EncodeRowKey({{"a", "3"}, {"b", "y"}});
  const auto& e = sink.events;
  // Each transaction ends with a marker after its changes: its commit fields,
  // the next index, how many changes it closes.
  ASSERT_EQ(sink.ends.size(), 4u);
  EXPECT_EQ(sink.ends[0].commit_lsn(), e[0].event.commit_lsn());
  EXPECT_EQ(sink.ends[0].index_in_tx(), 2u);
  EXPECT_EQ(sink.ends[0].unit_events(), 2u);
  EXPECT_EQ(Lsn(sink.ends[0].commit_end_lsn()), sink.commits[0]);
  EXPECT_EQ(sink.ends[0].xid(), e[0].event.xid());
  EXPECT_EQ(sink.ends[2].unit_events(), 2u) << "a key-changing update is two events";
  EXPECT_EQ(sink.ends[3].unit_events(), 1u);
  EXPECT_EQ(e[0].event.capture_session(), 77u);
  EXPECT_EQ(sink.ends[0].capture_session(), 77u);
  EXPECT_EQ(e[0].key, key1);
  EXPECT_EQ(e[0].event.op(), ferry::v1::OP_INSERT);
  EXPECT_EQ(e[0].event.index_in_tx(), 0u);
  EXPECT_EQ(e[1].event.index_in_tx(), 1u);
  EXPECT_EQ(e[1].event.columns(2).kind(), ferry::v1::Column::KIND_NULL);
  EXPECT_EQ(e[0].event.commit_lsn(), e[1].event.commit_lsn());
  EXPECT_EQ(Lsn(e[0].event.commit_lsn()), sink.begins[0]);
  EXPECT_GT(e[0].event.commit_time_us(), 1700000000LL * 1000000) << "Unix epoch microseconds";
  ASSERT_EQ(e[0].event.key_columns_size(), 2);
  EXPECT_EQ(e[0].event.key_columns(1), "b");
  EXPECT_EQ(e[0].event.columns(1).type_name(), "text");

  EXPECT_EQ(e[2].event.op(), ferry::v1::OP_UPDATE);
  EXPECT_EQ(e[2].key, key1);
  EXPECT_FALSE(e[2].event.key_changed());
  EXPECT_EQ(e[2].event.columns(2).value(), "second");

  // The key change: a delete in the old key's partition, then the new row in the new key's.
  EXPECT_EQ(e[3].event.op(), ferry::v1::OP_DELETE);
  EXPECT_TRUE(e[3].event.key_changed());
  EXPECT_EQ(e[3].key, key2);
  EXPECT_EQ(e[3].event.old_columns(0).value(), "2");
  EXPECT_EQ(e[4].event.op(), ferry::v1::OP_UPDATE);
  EXPECT_TRUE(e[4].event.key_changed());
  EXPECT_EQ(e[4].key, key3);
  EXPECT_EQ(e[4].event.old_tuple(), ChangeEvent::OLD_KEY);
  EXPECT_EQ(e[3].event.index_in_tx() + 1, e[4].event.index_in_tx());

  EXPECT_EQ(e[5].event.op(), ferry::v1::OP_DELETE);
  EXPECT_EQ(e[5].key, key1);
  EXPECT_EQ(e[5].event.columns_size(), 0);
}

TEST_F(EventBuilderTest, TransactionsBeforeSkipPointAreDropped) {
  cluster_->Sql("INSERT INTO s1 VALUES (1, 'x', 'old')");
  std::string mid = cluster_->Sql("SELECT pg_current_wal_lsn()");
  cluster_->Sql("INSERT INTO s1 VALUES (2, 'x', 'new')");

  RecordingSink sink;
  Replay(sink, *Lsn::Parse(mid));
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].event.columns(2).value(), "new");
  EXPECT_EQ(sink.begins.size(), 1u);
}

// A table copied again at a new point (snapshot_recopy.h) drops its own
// changes before that point; the other tables' and the indexes stay whole.
TEST_F(EventBuilderTest, ATablesChangesBeforeItsSkipPointAreDropped) {
  cluster_->Sql("CREATE TABLE s2 (a int PRIMARY KEY)");
  cluster_->Sql("BEGIN; INSERT INTO s1 VALUES (1, 'x', 'old'); INSERT INTO s2 VALUES (1); COMMIT;");
  Lsn mid = *Lsn::Parse(cluster_->Sql("SELECT pg_current_wal_lsn()"));
  cluster_->Sql("BEGIN; INSERT INTO s2 VALUES (2); INSERT INTO s1 VALUES (2, 'x', 'new'); COMMIT;");
  cluster_->Sql("TRUNCATE s1, s2");
  RecordingSink sink;
  // Set before the Relation messages arrive, as capture sets it.
  Status st = Decode(sink, Lsn(), nullptr, [&](EventBuilder& b) { b.SkipTableBefore("public", "s2", mid); });
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(sink.events.size(), 5u);
  EXPECT_EQ(sink.events[0].event.table(), "s1");
  EXPECT_EQ(sink.events[0].event.index_in_tx(), 0u);
  ASSERT_EQ(sink.ends.size(), 3u);
  EXPECT_EQ(sink.ends[0].unit_events(), 1u) << "s2's insert before the point is dropped";
  EXPECT_EQ(sink.ends[0].index_in_tx(), 1u);
  EXPECT_EQ(sink.events[1].event.table(), "s2");
  EXPECT_EQ(sink.events[2].event.table(), "s1");
  EXPECT_EQ(sink.ends[1].unit_events(), 2u);
  EXPECT_EQ(sink.events[3].event.op(), ferry::v1::OP_TRUNCATE);
  EXPECT_EQ(sink.events[4].event.table(), "s2");
}

// Events a listener adds to a transaction can be closed as units of their own
// (a table's copy, chunk by chunk); the transaction's own events follow.
class ChunkingListener : public MessageListener {
 public:
  EventBuilder* builder = nullptr;
  Status OnTransactionalMessage(const LogicalMessage&) override {
    for (int i = 0; i < 3; ++i) {
      ChangeEvent e;
      e.set_op(ferry::v1::OP_READ);
      FERRY_RETURN_IF_ERROR(builder->PublishInTransaction("k", e));
      if (i != 0) FERRY_RETURN_IF_ERROR(builder->EndUnitInTransaction());
    }
    return builder->EndUnitInTransaction();  // nothing since the last: no empty unit
  }
};

TEST_F(EventBuilderTest, UnitsEndInsideATransaction) {
  cluster_->Sql("BEGIN; SELECT pg_logical_emit_message(true, 'x', 'y'); INSERT INTO s1 VALUES (1, 'x', 'v'); COMMIT;");
  cluster_->Sql("BEGIN; SELECT pg_logical_emit_message(true, 'x', 'y'); COMMIT;");
  RecordingSink sink;
  ChunkingListener listener;
  Status st = Decode(sink, Lsn(), nullptr, [&](EventBuilder& b) {
    listener.builder = &b;
    b.set_message_listener(&listener);
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(sink.events.size(), 7u);
  ASSERT_EQ(sink.ends.size(), 5u);
  // First transaction: [R0 R1] end, [R3] end, [insert] end; indexes run on.
  EXPECT_EQ(sink.ends[0].unit_events(), 2u);
  EXPECT_EQ(sink.ends[0].index_in_tx(), 2u);
  EXPECT_EQ(sink.ends[1].unit_events(), 1u);
  EXPECT_EQ(sink.ends[1].index_in_tx(), 4u);
  EXPECT_EQ(sink.events[3].event.op(), ferry::v1::OP_INSERT);
  EXPECT_EQ(sink.events[3].event.index_in_tx(), 5u);
  EXPECT_EQ(sink.ends[2].unit_events(), 1u);
  EXPECT_EQ(sink.ends[2].index_in_tx(), 6u);
  EXPECT_EQ(Lsn(sink.ends[2].commit_end_lsn()), sink.commits[0]);
  // Second: its last unit ended with its last event: no end marker at commit.
  EXPECT_EQ(sink.ends[4].index_in_tx(), 4u);
  EXPECT_EQ(sink.commits.size(), 2u);
}

// A key change leaves a TOASTed column "unchanged", but the row moves: the value
// comes from the source. Under REPLICA IDENTITY FULL nothing moves: the update
// carries the whole old row to find the row by, and is not split.
TEST_F(EventBuilderTest, KeyChangeCompletesUnchangedToastedColumns) {
  const std::string big = "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 3000))";
  cluster_->Sql("CREATE TABLE docs (id int PRIMARY KEY, body text); CREATE TABLE fulls (id int, body text);"
                "ALTER TABLE fulls REPLICA IDENTITY FULL;");
  cluster_->Sql("INSERT INTO docs SELECT g, " + big + " FROM generate_series(1, 2) g;"
                "INSERT INTO fulls SELECT 1, " + big);
  const std::string body1 = cluster_->Sql("SELECT body FROM docs WHERE id = 1");
  const std::string full_body = cluster_->Sql("SELECT body FROM fulls");
  ASSERT_EQ(body1.size(), 96000u);
  cluster_->Sql("UPDATE docs SET id = 11 WHERE id = 1");
  cluster_->Sql("UPDATE fulls SET id = 12");
  cluster_->Sql("UPDATE docs SET id = 22 WHERE id = 2");
  cluster_->Sql("DELETE FROM docs WHERE id = 22");  // gone before capture reads the move

  RecordingSink sink;
  PgRowFetcher fetcher(cluster_->conninfo());
  Replay(sink, Lsn(), &fetcher);
  std::vector<const ChangeEvent*> moved;
  for (const auto& p : sink.events) {
    if (p.event.op() == ferry::v1::OP_UPDATE) moved.push_back(&p.event);
  }
  ASSERT_EQ(moved.size(), 2u) << "the move of row 2, gone by now, sends only its delete half";
  int full_deletes = 0;
  for (const auto& p : sink.events) full_deletes += p.event.table() == "fulls" && p.event.op() == ferry::v1::OP_DELETE;
  EXPECT_EQ(full_deletes, 0) << "a FULL update is not split";
  EXPECT_EQ(moved[0]->table(), "docs");
  EXPECT_EQ(moved[0]->columns(1).kind(), ferry::v1::Column::KIND_TEXT) << "fetched from the source";
  EXPECT_EQ(moved[0]->columns(1).value(), body1);
  EXPECT_EQ(moved[1]->table(), "fulls");
  EXPECT_FALSE(moved[1]->key_changed());
  EXPECT_EQ(moved[1]->old_tuple(), ChangeEvent::OLD_FULL);
  EXPECT_EQ(moved[1]->old_columns(1).value(), full_body) << "FULL logs the old row detoasted";
  EXPECT_EQ(moved[1]->columns(1).kind(), ferry::v1::Column::KIND_UNCHANGED_TOAST);
  int deletes_of_22 = 0;
  for (const auto& p : sink.events) {
    if (p.event.op() == ferry::v1::OP_DELETE && p.event.old_columns(0).value() == "22") ++deletes_of_22;
  }
  EXPECT_EQ(deletes_of_22, 1);
}

TEST_F(EventBuilderTest, KeyChangeWithUnsentColumnsAndNoSourceIsAnError) {
  cluster_->Sql("CREATE TABLE docs (id int PRIMARY KEY, body text)");
  cluster_->Sql("INSERT INTO docs SELECT 1, string_agg(md5(random()::text), '') FROM generate_series(1, 3000)");
  cluster_->Sql("UPDATE docs SET id = 2");
  RecordingSink sink;
  Status last = Decode(sink);
  EXPECT_FALSE(last.ok());
  EXPECT_NE(last.message().find("no source is at hand"), std::string::npos) << last.ToString();
}

TEST(EventBuilderStandaloneTest, ChangeForAnUndescribedRelationIsCorruption) {
  RecordingSink sink;
  EventBuilder builder({"db", Lsn(), 77}, {}, sink);
  ASSERT_TRUE(builder.OnBegin({Lsn(10), 0, Xid(5)}).ok());
  InsertMessage m;
  m.relation_oid = 4242;
  Status st = builder.OnInsert(m);
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find("4242"), std::string::npos);
}

// A run of batch_rows inserts into one table, or more, travels as row
// batches (OP_INSERT_ROWS): the rows in COPY's text format, values exact, in
// order, one event index for the batch; a shorter run, and whatever breaks a
// run, are events of their own, in their place.
TEST_F(EventBuilderTest, RunsOfInsertsTravelInBatchesAndShortRunsAsRows) {
  batch_rows_ = 4;
  cluster_->Sql("CREATE TABLE other (id int PRIMARY KEY, note text)");
  cluster_->Sql("INSERT INTO s1 VALUES (1, 'a', 'short'), (2, 'a', 'run')");
  cluster_->Sql(
      "BEGIN;"
      "INSERT INTO s1 SELECT g, 'b', CASE WHEN g = 3 THEN NULL ELSE E'tab\\there\\\\ and\\nline ' || g END "
      "  FROM generate_series(1, 10) g;"
      "UPDATE s1 SET v = 'moved' WHERE a = 1 AND b = 'a';"
      "INSERT INTO s1 VALUES (20, 'c', 'after'), (21, 'c', 'update');"
      "INSERT INTO other SELECT g, 'o' || g FROM generate_series(1, 5) g;"
      "INSERT INTO s1 SELECT g, 'd', 'x' FROM generate_series(1, 6) g;"
      "COMMIT");

  RecordingSink sink;
  Replay(sink);
  const auto& e = sink.events;
  ASSERT_EQ(e.size(), 2u + 1 + 1 + 2 + 1 + 1);
  EXPECT_EQ(e[0].event.op(), ferry::v1::OP_INSERT) << "a run of 2 stays rows";
  EXPECT_EQ(e[1].event.op(), ferry::v1::OP_INSERT);

  const ChangeEvent& batch = e[2].event;
  ASSERT_EQ(batch.op(), ferry::v1::OP_INSERT_ROWS);
  EXPECT_EQ(e[2].key, transport::TableKey("public", "s1"));
  EXPECT_EQ(batch.row_count(), 10u);
  EXPECT_EQ(batch.index_in_tx(), 0u);
  ASSERT_EQ(batch.columns_size(), 3);
  EXPECT_EQ(batch.columns(2).name(), "v");
  EXPECT_EQ(batch.columns(2).type_name(), "text");
  EXPECT_TRUE(batch.columns(0).is_key());
  EXPECT_TRUE(batch.columns(2).value().empty()) << "the columns carry no values";
  EXPECT_EQ(batch.key_columns_size(), 2);
  std::vector<CopyRow> rows = BatchRows(batch);
  ASSERT_EQ(rows.size(), 10u);
  EXPECT_EQ(*rows[0][0], "1");
  EXPECT_EQ(*rows[0][2], "tab\there\\ and\nline 1");
  EXPECT_FALSE(rows[2][2].has_value()) << "NULL stays NULL";
  EXPECT_EQ(*rows[9][0], "10");

  EXPECT_EQ(e[3].event.op(), ferry::v1::OP_UPDATE) << "the update keeps its place";
  EXPECT_EQ(e[3].event.index_in_tx(), 1u);
  EXPECT_EQ(e[4].event.op(), ferry::v1::OP_INSERT);
  EXPECT_EQ(e[5].event.op(), ferry::v1::OP_INSERT);
  EXPECT_EQ(e[5].event.columns(2).value(), "update");
  EXPECT_EQ(e[6].event.op(), ferry::v1::OP_INSERT_ROWS);
  EXPECT_EQ(e[6].event.table(), "other");
  EXPECT_EQ(e[6].event.row_count(), 5u);
  EXPECT_EQ(e[7].event.op(), ferry::v1::OP_INSERT_ROWS);
  EXPECT_EQ(e[7].event.table(), "s1");
  EXPECT_EQ(e[7].event.row_count(), 6u);
  EXPECT_EQ(e[7].event.index_in_tx(), 5u);
  ASSERT_EQ(sink.ends.size(), 2u);
  EXPECT_EQ(sink.ends[1].unit_events(), 6u) << "a batch is one event of its unit";

  // The batch's position is its first row's: the same rows, one event each.
  batch_rows_ = 0;
  RecordingSink rows_sink;
  Replay(rows_sink);
  ASSERT_EQ(rows_sink.events.size(), 2u + 10 + 1 + 2 + 5 + 6);
  EXPECT_EQ(batch.lsn(), rows_sink.events[2].event.lsn());
  EXPECT_EQ(e[7].event.lsn(), rows_sink.events[20].event.lsn());
  EXPECT_EQ(rows_sink.events[2].event.op(), ferry::v1::OP_INSERT);
}

// A run larger than a batch is cut into several, each near
// transport::kRowBatchBytes, none of its rows lost or repeated.
TEST_F(EventBuilderTest, ALongRunIsCutIntoBatchesOfBoundedSize) {
  batch_rows_ = 256;
  cluster_->Sql("INSERT INTO s1 SELECT g, 'b', repeat(md5(g::text), 32) FROM generate_series(1, 3000) g");
  RecordingSink sink;
  Replay(sink);
  ASSERT_GE(sink.events.size(), 5u) << "3000 rows of about 1 kB";
  uint32_t total = 0;
  int64_t next = 1;
  for (const auto& p : sink.events) {
    ASSERT_EQ(p.event.op(), ferry::v1::OP_INSERT_ROWS);
    EXPECT_LT(p.event.copy_rows().size(), transport::kRowBatchBytes + 2048);
    total += p.event.row_count();
    for (const CopyRow& row : BatchRows(p.event)) EXPECT_EQ(std::stoll(*row[0]), next++);
  }
  EXPECT_EQ(total, 3000u);
  EXPECT_EQ(next, 3001);
}

// Rows whose values pass a batch's size before the run is long enough open
// it sooner, so capture never keeps more than about a batch of them, and no
// batch holds more than a batch's size and one row.
TEST_F(EventBuilderTest, LargeRowsOpenTheBatchSoonerSoLittleIsKept) {
  batch_rows_ = 256;
  cluster_->Sql("INSERT INTO s1 SELECT g, 'big', repeat(md5(g::text), 10000) FROM generate_series(1, 3) g");
  cluster_->Sql("INSERT INTO s1 VALUES (9, 'one', repeat('z', 200000))");
  RecordingSink sink;
  Replay(sink);
  ASSERT_EQ(sink.events.size(), 3u);
  EXPECT_EQ(sink.events[0].event.op(), ferry::v1::OP_INSERT_ROWS);
  EXPECT_EQ(sink.events[0].event.row_count(), 2u) << "two 320 kB rows pass 512 KiB";
  EXPECT_EQ(sink.events[1].event.op(), ferry::v1::OP_INSERT_ROWS);
  EXPECT_EQ(sink.events[1].event.row_count(), 1u);
  std::vector<CopyRow> third = BatchRows(sink.events[1].event);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(*third[0][0], "3");
  EXPECT_EQ(*third[0][2], cluster_->Sql("SELECT repeat(md5('3'), 10000)"));
  EXPECT_EQ(sink.events[2].event.op(), ferry::v1::OP_INSERT) << "a lone row below a batch's size stays a row";
}

// While batches are off (an incremental snapshot's window must see each row),
// every insert is an event of its own.
TEST_F(EventBuilderTest, InsertsAreRowsWhileBatchesAreOff) {
  batch_rows_ = 4;
  cluster_->Sql("INSERT INTO s1 SELECT g, 'b', 'v' FROM generate_series(1, 10) g");
  RecordingSink sink;
  Status st = Decode(sink, Lsn(), nullptr, [](EventBuilder& b) { ASSERT_TRUE(b.SetBatchInserts(false).ok()); });
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(sink.events.size(), 10u);
  for (const auto& p : sink.events) EXPECT_EQ(p.event.op(), ferry::v1::OP_INSERT);
}

}  // namespace
}  // namespace ferry::capture
