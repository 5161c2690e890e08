// Runs of inserts written by COPY (apply/copy_run.h) against a real target:
// rows the target lacks go by COPY, with every value intact; where a row
// exists, or the target refuses a value, the run falls back to its statement,
// so rows, conflict counts and errors are what one statement per event gives.
#include "apply/copy_run.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <thread>

#include "apply/target_writer.h"
#include "tests/unit/apply/apply_test_support.h"
#include "tests/unit/apply/copy_target_fixture.h"

namespace ferry::apply {
namespace {

using testing::Event;
using testing::kAwkward;
using Events = std::vector<ferry::v1::ChangeEvent>;

class CopyRunTest : public testing::CopyTargetTest {
 protected:
  // `rows` inserts (snapshot reads every third one), ids from 1, awkward values among them.
  static Events Inserts(const std::string& schema, int rows, const std::string& refused_at = "") {
    return testing::AwkwardRows(
        schema, rows, [](int i) { return i % 3 == 0 ? ferry::v1::OP_READ : ferry::v1::OP_INSERT; }, refused_at);
  }
};

TEST_P(CopyRunTest, RowsTheTargetLacksGoByCopyWithEveryValueIntact) {
  MakeSchema("copied");
  MakeSchema("stated");
  auto copying = TargetWriter::Connect(cluster_->conninfo(), {.rule = GetParam(), .min_copy_rows = 2});
  auto stating = TargetWriter::Connect(cluster_->conninfo(), {.rule = GetParam(), .min_copy_rows = 0});
  ASSERT_TRUE(copying.ok() && stating.ok());
  Status copied = (*copying)->ApplyBatch(Inserts("copied", 700));
  ASSERT_TRUE(copied.ok()) << copied.ToString();
  ASSERT_TRUE((*stating)->ApplyBatch(Inserts("stated", 700)).ok());
  EXPECT_EQ(Log("copied"), "COPY");
  EXPECT_EQ(Log("stated"), "INSE");
  EXPECT_EQ(Rows("copied"), Rows("stated"));
  EXPECT_EQ((*copying)->conflicts().Total(), 0);
  // Spot checks, independent of the statement path.
  EXPECT_EQ(cluster_->Sql("SELECT v || '|' || n || '|' || note || '|' || g FROM copied.t WHERE id = 1"),
            "new\nline1|1.25|dflt|2");
  EXPECT_EQ(cluster_->Sql("SELECT v FROM copied.t WHERE id = 4"), "\\N4");
  EXPECT_EQ(cluster_->Sql("SELECT v IS NULL FROM copied.t WHERE id = 7"), "t");
}

TEST_P(CopyRunTest, WhereRowsExistTheStatementResolvesAndCountsThem) {
  MakeSchema("copied", "3,250,699");
  MakeSchema("stated", "3,250,699");
  auto copying = TargetWriter::Connect(cluster_->conninfo(), {.rule = GetParam(), .min_copy_rows = 2});
  // log_conflicts: one statement per event, to name each conflict.
  auto single = TargetWriter::Connect(cluster_->conninfo(), {.rule = GetParam(), .log_conflicts = true});
  ASSERT_TRUE(copying.ok() && single.ok());
  Status copied = (*copying)->ApplyBatch(Inserts("copied", 700));
  ASSERT_TRUE(copied.ok()) << copied.ToString();
  ASSERT_TRUE((*single)->ApplyBatch(Inserts("stated", 700)).ok());
  EXPECT_EQ(Rows("copied"), Rows("stated"));
  EXPECT_EQ((*copying)->conflicts().Total(), 3);
  std::string counted = (*copying)->conflicts().Summary();
  for (size_t at; (at = counted.find("\"copied\"")) != std::string::npos;) counted.replace(at, 8, "\"stated\"");
  EXPECT_EQ(counted, (*single)->conflicts().Summary());
  EXPECT_EQ(Log("copied"), "INSE") << "the refused COPY left nothing behind";
}

TEST_P(CopyRunTest, AValueTheTargetRefusesFailsAsItsStatementDoesAndLeavesNothing) {
  MakeSchema("copied");
  auto copying = TargetWriter::Connect(cluster_->conninfo(), {.rule = GetParam(), .min_copy_rows = 2});
  ASSERT_TRUE(copying.ok());
  Status st = (*copying)->ApplyBatch(Inserts("copied", 700, "500"));
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("t_v_check"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("INSERT of 700 rows"), std::string::npos) << "names the run: " << st.ToString();
  EXPECT_EQ(cluster_->Sql("SELECT count(*) FROM copied.t"), "0");
  // The writer goes on.
  ASSERT_TRUE((*copying)->ApplyBatch(Inserts("copied", 300)).ok());
  EXPECT_EQ(cluster_->Sql("SELECT count(*) FROM copied.t"), "300");
}

INSTANTIATE_TEST_SUITE_P(Rules, CopyRunTest, testing::AllRules(), testing::RuleName);

TEST(CopyRowTest, EscapesWhatCopysTextFormatReadsSpecially) {
  ferry::v1::ChangeEvent e = Event("app", "t", ferry::v1::OP_INSERT)
                                 .Key({"id"})
                                 .Text("id", "1")
                                 .Text("a", "x\ty\nz\r\\")
                                 .Null("b")
                                 .Text("c", "\\N")
                                 .Build();
  std::string out;
  AppendCopyRow(out, e, {"id", "a", "b", "c", "missing"});
  EXPECT_EQ(out, "1\tx\\ty\\nz\\r\\\\\t\\N\t\\\\N\t\\N\n");
}

TEST(CopyFitsTest, OnlyPlainInsertsAndSnapshotReadsOnTablesWithoutRules) {
  TableInfo table;
  table.schema = "app";
  table.table = "t";
  ferry::v1::ChangeEvent insert = testing::Insert("t", "1").Build();
  ferry::v1::ChangeEvent read = Event("app", "t", ferry::v1::OP_READ).Key({"id"}).Text("id", "2").Build();
  ferry::v1::ChangeEvent key_change = testing::Update("t", "3").OldText("id", "4").KeyChanged().Build();
  std::vector<const ferry::v1::ChangeEvent*> plain = {&insert, &read};
  std::vector<const ferry::v1::ChangeEvent*> mixed = {&insert, &key_change};
  EXPECT_TRUE(CopyFits(plain, table));
  EXPECT_FALSE(CopyFits(mixed, table));
  table.has_rules = true;
  EXPECT_FALSE(CopyFits(plain, table));
}

// The sender hands the target every row queued so far while no more come:
// libpq, nonblocking, keeps what the socket did not take until it is called
// again, so without a flush the target sits waiting for rows apply has sent.
TEST_F(CopyRunTest, TheSenderDeliversQueuedRowsWithoutWaitingForMore) {
  MakeSchema("sender");
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(cluster_->conninfo().c_str()), &PQfinish);
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK);
  CopyIn in(conn.get());
  auto started = in.Start("COPY sender.t (id, v) FROM STDIN");
  ASSERT_TRUE(started.ok() && !*started);
  in.StartSender(size_t{2} << 20);
  // More than a socket holds: ~12 MB in 1 MiB pieces.
  constexpr int kRows = 300000;
  std::string piece;
  for (int id = 1; id <= kRows; ++id) {
    piece += std::to_string(id) + "\tsome text of a row, long enough to weigh\n";
    if (piece.size() < (size_t{1} << 20) && id < kRows) continue;
    ASSERT_TRUE(in.Queue(piece).ok());
    piece.clear();
  }
  std::string processed;
  for (int i = 0; i < 400 && processed != std::to_string(kRows); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    processed = cluster_->Sql(
        "SELECT coalesce(max(tuples_processed), -1) FROM pg_stat_progress_copy WHERE relid = 'sender.t'::regclass");
  }
  EXPECT_EQ(processed, std::to_string(kRows)) << "rows the target never got before the COPY ended";
  auto finished = in.Finish();
  ASSERT_TRUE(finished.ok() && !*finished);
  EXPECT_EQ(cluster_->Sql("SELECT count(*) FROM sender.t"), std::to_string(kRows));
}

}  // namespace
}  // namespace ferry::apply
