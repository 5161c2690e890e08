// Row batches (OP_READ_ROWS, apply/row_batches.h) against a real target: a
// snapshot chunk's rows go into the target by COPY as capture wrote them; where
// the target holds some of them, computes a column or refuses a value, their
// rows go as statements, so rows, conflict counts and errors are those of one
// READ event per row.
#include "apply/row_batches.h"

#include <gtest/gtest.h>

#include "apply/target_writer.h"
#include "common/copy_text.h"
#include "common/lz4_block.h"
#include "tests/unit/apply/apply_test_support.h"
#include "tests/unit/apply/copy_target_fixture.h"

namespace ferry::apply {
namespace {

using ferry::v1::ChangeEvent;
using testing::Event;
using testing::kAwkward;
using Events = std::vector<ChangeEvent>;


// `rows` snapshot reads of t, ids from 1, awkward values among them.
Events Reads(const std::string& schema, int rows, const std::string& refused_at = "", bool with_g = false) {
  return testing::AwkwardRows(
      schema, rows, [](int) { return ferry::v1::OP_READ; }, refused_at, with_g);
}

Events Batches(const Events& reads, size_t per_batch) {
  return testing::RowBatches(reads, per_batch, ferry::v1::OP_READ_ROWS);
}

class RowBatchesTest : public testing::CopyTargetTest {};

TEST_P(RowBatchesTest, GoIntoTheTargetByCopyEqualToOneReadPerRow) {
  MakeSchema("batched");
  MakeSchema("stated");
  auto copying = TargetWriter::Connect(cluster_->conninfo(), {.rule = GetParam()});
  auto stating = TargetWriter::Connect(cluster_->conninfo(), {.rule = GetParam(), .min_copy_rows = 0});
  ASSERT_TRUE(copying.ok() && stating.ok());
  Status copied = (*copying)->ApplyBatch(Batches(Reads("batched", 700), 64));
  ASSERT_TRUE(copied.ok()) << copied.ToString();
  ASSERT_TRUE((*stating)->ApplyBatch(Reads("stated", 700)).ok());
  EXPECT_EQ(Log("batched"), "COPY");
  EXPECT_EQ(Log("stated"), "INSE");
  EXPECT_EQ(Rows("batched"), Rows("stated"));
  EXPECT_EQ((*copying)->conflicts().Total(), 0);
  EXPECT_EQ(cluster_->Sql("SELECT v || '|' || n || '|' || note || '|' || g FROM batched.t WHERE id = 1"),
            "new\nline1|1.25|dflt|2");
  EXPECT_EQ(cluster_->Sql("SELECT v IS NULL FROM batched.t WHERE id = 7"), "t");
}

TEST_P(RowBatchesTest, WhereRowsExistTheirRowsGoAsStatementsCountedAsReadsAre) {
  MakeSchema("batched", "3,250,699");
  MakeSchema("stated", "3,250,699");
  auto copying = TargetWriter::Connect(cluster_->conninfo(), {.rule = GetParam()});
  auto single = TargetWriter::Connect(cluster_->conninfo(), {.rule = GetParam(), .log_conflicts = true});
  ASSERT_TRUE(copying.ok() && single.ok());
  Status copied = (*copying)->ApplyBatch(Batches(Reads("batched", 700), 100));
  ASSERT_TRUE(copied.ok()) << copied.ToString();
  ASSERT_TRUE((*single)->ApplyBatch(Reads("stated", 700)).ok());
  EXPECT_EQ(Rows("batched"), Rows("stated"));
  EXPECT_EQ((*copying)->conflicts().Total(), 3);
  std::string counted = (*copying)->conflicts().Summary();
  for (size_t at; (at = counted.find("\"batched\"")) != std::string::npos;) counted.replace(at, 9, "\"stated\"");
  EXPECT_EQ(counted, (*single)->conflicts().Summary());
  EXPECT_EQ(Log("batched"), "INSE") << "the refused COPY left nothing behind";
}

TEST_P(RowBatchesTest, AColumnTheTargetComputesIsLeftToIt) {
  MakeSchema("batched");
  MakeSchema("stated");
  auto copying = TargetWriter::Connect(cluster_->conninfo(), {.rule = GetParam()});
  ASSERT_TRUE(copying.ok());
  Status st = (*copying)->ApplyBatch(Batches(Reads("batched", 300, "", /*with_g=*/true), 50));
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto stating = TargetWriter::Connect(cluster_->conninfo(), {.rule = GetParam(), .min_copy_rows = 0});
  ASSERT_TRUE(stating.ok());
  ASSERT_TRUE((*stating)->ApplyBatch(Reads("stated", 300, "", true)).ok());
  EXPECT_EQ(Rows("batched"), Rows("stated"));
  EXPECT_EQ(cluster_->Sql("SELECT g FROM batched.t WHERE id = 5"), "10");
}

TEST_P(RowBatchesTest, ARefusedValueFailsNamingItsRowAndLeavesNothing) {
  MakeSchema("batched");
  auto copying = TargetWriter::Connect(cluster_->conninfo(), {.rule = GetParam()});
  ASSERT_TRUE(copying.ok());
  const Events batches = Batches(Reads("batched", 700, "500"), 100);
  Status st = (*copying)->ApplyBatch(batches);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("t_v_check"), std::string::npos) << st.ToString();
  EXPECT_EQ(cluster_->Sql("SELECT count(*) FROM batched.t"), "0");
  // One statement per row, as apply retries a failed transaction: the row is named.
  st = (*copying)->ApplyBatch(batches, /*precise=*/true);
  EXPECT_NE(st.message().find("key {\"id\":\"500\"}"), std::string::npos) << st.ToString();
  EXPECT_EQ(cluster_->Sql("SELECT count(*) FROM batched.t"), "0");
  ASSERT_TRUE((*copying)->ApplyBatch(Batches(Reads("batched", 300), 100)).ok());  // the writer goes on
  EXPECT_EQ(cluster_->Sql("SELECT count(*) FROM batched.t"), "300");
}

INSTANTIATE_TEST_SUITE_P(Rules, RowBatchesTest, testing::AllRules(), testing::RuleName);

TEST(RowBatchTest, ChangesAfterABatchApplyAfterItsCopy) {
  ferry::testing::PgCluster* cluster = testing::SharedTarget();
  ASSERT_NE(cluster, nullptr);
  cluster->Sql("SET client_min_messages = warning; DROP SCHEMA IF EXISTS after CASCADE; CREATE SCHEMA after; "
               "CREATE TABLE after.t (id int PRIMARY KEY, v text, n numeric(6,2))");
  Events events = Batches(Reads("after", 600), 200);
  events.push_back(Event("after", "t", ferry::v1::OP_UPDATE).Key({"id"}).Text("id", "5").Text("v", "new").Build());
  events.push_back(Event("after", "t", ferry::v1::OP_DELETE).Key({"id"}).OldText("id", "6").Build());
  for (const ChangeEvent& e : Batches(Reads("after", 2), 2)) events.push_back(e);  // rows that exist now
  auto writer = TargetWriter::Connect(cluster->conninfo(), {.rule = ConflictRule::kReplace});
  ASSERT_TRUE(writer.ok());
  Status st = (*writer)->ApplyBatch(events);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(cluster->Sql("SELECT count(*) || ' ' || max(v) FILTER (WHERE id = 5) FROM after.t"), "599 new");
}

// A table's COPYs of row batches grow while the target takes them whole (4,
// then 8, then 16 MiB, ...): a large copy costs the target few COPYs, each
// of which costs it more than rows alone (apply/target_writer.cpp). Rows of
// another capture session (a resumed copy, which may resend rows the target
// holds) start small again: a refused COPY is redone by statements.
TEST(RowBatchTest, ATablesCopiesGrowWhileTheTargetTakesThemWholeAndStartOverForANewSession) {
  ferry::testing::PgCluster* cluster = testing::SharedTarget();
  ASSERT_NE(cluster, nullptr);
  cluster->Sql("SET client_min_messages = warning; DROP SCHEMA IF EXISTS grown CASCADE; CREATE SCHEMA grown; "
               "CREATE TABLE grown.t (id int PRIMARY KEY, v text); CREATE TABLE grown.log (query text); "
               "CREATE FUNCTION grown.log_query() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               "INSERT INTO grown.log VALUES (left(current_query(), 4)); RETURN NULL; END $$; "
               "CREATE TRIGGER log AFTER INSERT ON grown.t FOR EACH STATEMENT EXECUTE FUNCTION grown.log_query(); "
               "ALTER TABLE grown.t ENABLE ALWAYS TRIGGER log");
  Events reads;
  for (int i = 1; i <= 38 * 256; ++i) {
    reads.push_back(Event("grown", "t", ferry::v1::OP_READ)
                        .Key({"id"})
                        .Text("id", std::to_string(i))
                        .Text("v", std::string(4090, static_cast<char>('a' + i % 26)))
                        .Build());
  }
  auto writer = TargetWriter::Connect(cluster->conninfo(), {.rule = ConflictRule::kReplace});
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  Events batches = Batches(reads, 256);  // 38 batches of about 1 MiB
  Events first(batches.begin(), batches.begin() + 26), resumed(batches.begin() + 26, batches.end());
  Status st = (*writer)->ApplyBatch(first);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(cluster->Sql("SELECT count(*) FROM grown.log"), "3") << "4 + 8 + 16 MiB take 26 (7 COPYs of 4 MiB before)";
  for (auto& b : resumed) b.set_capture_session(7);
  st = (*writer)->ApplyBatch(resumed);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(cluster->Sql("SELECT count(*) FROM grown.log"), "5") << "4 + 8 MiB take the new session's 12, not one of 32";
  EXPECT_EQ(cluster->Sql("SELECT count(*) FROM grown.t"), std::to_string(38 * 256));
}

// A transaction aborted while its COPY of row batches is still open (a
// rebalance, a stop) ends the COPY with an error: none of its rows stay, the
// connection stays, and the next transaction applies on it.
TEST(RowBatchTest, AnAbortWithACopyOpenKeepsNoneOfItsRowsAndTheWriterGoesOn) {
  ferry::testing::PgCluster* cluster = testing::SharedTarget();
  ASSERT_NE(cluster, nullptr);
  cluster->Sql("SET client_min_messages = warning; DROP SCHEMA IF EXISTS aborted CASCADE; CREATE SCHEMA aborted; "
               "CREATE TABLE aborted.t (id int PRIMARY KEY, v text, n numeric(6,2))");
  auto writer = TargetWriter::Connect(cluster->conninfo(), {.rule = ConflictRule::kReplace});
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  cluster->Sql("DELETE FROM ferry.apply_progress WHERE topic = 'ferry.aborted'");  // Connect created the table
  const TopicPartition tp{"ferry.aborted", 0};
  auto start = (*writer)->LoadPosition(tp);
  ASSERT_TRUE(start.ok()) << start.status().ToString();
  const Events batches = Batches(Reads("aborted", 3000), 500);
  ASSERT_TRUE((*writer)->Begin(tp, *start).ok());
  ASSERT_TRUE((*writer)->Hold(batches, 0).ok());
  ASSERT_TRUE((*writer)->copying()) << "the batches wait in an open COPY";
  const std::string backend = cluster->Sql(
      "SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY \"aborted\".%' AND state <> 'idle'");
  ASSERT_FALSE(backend.empty()) << "the target runs the COPY";
  (*writer)->Abort();
  EXPECT_FALSE((*writer)->copying());
  EXPECT_EQ(cluster->Sql("SELECT count(*) FROM aborted.t"), "0");
  EXPECT_EQ(cluster->Sql("SELECT state FROM pg_stat_activity WHERE pid = " + backend), "idle")
      << "the same connection, out of the COPY and its transaction";
  ASSERT_TRUE((*writer)->Begin(tp, *start).ok());
  ASSERT_TRUE((*writer)->Hold(batches, 0).ok());
  Status st = (*writer)->Commit(ApplyPosition{Lsn(0x700), 0, 9, 0, ""});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(cluster->Sql("SELECT count(*) FROM aborted.t"), "3000");
}

// A statement between two batches of a table keeps its place: the second batch
// does not join the first one's open COPY ahead of it. A table copied again
// after a crash is exactly this: the partial copy's batches, the truncate
// that clears them, the new copy's batches.
TEST(RowBatchTest, AStatementBetweenBatchesOfATableKeepsItsPlace) {
  ferry::testing::PgCluster* cluster = testing::SharedTarget();
  ASSERT_NE(cluster, nullptr);
  cluster->Sql("SET client_min_messages = warning; DROP SCHEMA IF EXISTS between CASCADE; CREATE SCHEMA between; "
               "CREATE TABLE between.t (id int PRIMARY KEY, v text, n numeric(6,2))");
  const Events reads = Reads("between", 600);
  Events events = Batches(Events(reads.begin(), reads.begin() + 300), 100);
  events.push_back(Event("between", "t", ferry::v1::OP_TRUNCATE).Build());
  for (const ChangeEvent& e : Batches(Events(reads.begin() + 300, reads.end()), 100)) events.push_back(e);
  events.push_back(Event("between", "t", ferry::v1::OP_DELETE).Key({"id"}).OldText("id", "450").Build());
  for (const ChangeEvent& e : Batches(Events(reads.begin() + 449, reads.begin() + 450), 1)) events.push_back(e);
  auto writer = TargetWriter::Connect(cluster->conninfo(), {.rule = ConflictRule::kReplace});
  ASSERT_TRUE(writer.ok());
  Status st = (*writer)->ApplyBatch(events);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(cluster->Sql("SELECT count(*) || ' ' || min(id) || '..' || max(id) FROM between.t"), "300 301..600")
      << "the truncate cleared the first 300 rows only; row 450, deleted, came back";
}

TEST(RowBatchTest, RowsThatDoNotDecodeAreCorruptionNamingTheBatch) {
  Events batches = Batches(Reads("app", 3), 3);
  std::deque<ChangeEvent> rows;
  EXPECT_TRUE(ExpandRowBatch(batches[0], rows).ok());
  EXPECT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].op(), ferry::v1::OP_READ);
  EXPECT_EQ(rows[1].columns(1).value(), kAwkward[2] + "2");
  batches[0].mutable_copy_rows()->pop_back();
  Status st = ExpandRowBatch(batches[0], rows);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find("READ of 3 rows on \"app\".\"t\""), std::string::npos) << st.ToString();
  batches[0].set_row_count(4);
  batches[0].mutable_copy_rows()->push_back('\n');
  EXPECT_NE(ExpandRowBatch(batches[0], rows).message().find("holds 3 rows, not 4"), std::string::npos);
  // A compressed batch whose block does not decompress to the size it claims.
  Events compressed = Batches(Reads("app", 200), 100);
  ASSERT_NE(compressed[1].copy_rows_lz4_size(), 0u);
  rows.clear();
  EXPECT_TRUE(ExpandRowBatch(compressed[1], rows).ok());
  EXPECT_EQ(rows.size(), 100u);
  compressed[1].set_copy_rows_lz4_size(compressed[1].copy_rows_lz4_size() + 1);
  st = ExpandRowBatch(compressed[1], rows);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find("does not decompress"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace ferry::apply
