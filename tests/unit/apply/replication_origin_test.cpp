// Apply's replication origin on a real PostgreSQL 15 target (logical, so that
// logical decoding can show what a capture on the target would see):
//   - every transaction of a writer with an origin is marked with it (the
//     first insert of its position row and ApplyBatch's included): a decoding
//     that keeps only local transactions sees none of them, and sees the
//     application's own write;
//   - Commit records the source commit's end LSN as the origin's position;
//   - the origin is held only inside a transaction: two writers of one
//     pipeline (a hot standby) take turns, an aborted transaction releases it;
//   - a target whose position row predates origins seeds the origin with it;
//   - a role that may not use the origin functions is told what to grant.
#include <gtest/gtest.h>

#include "apply/replication_origin.h"
#include "apply/target_writer.h"
#include "tests/unit/apply/apply_test_support.h"

namespace ferry::apply {
namespace {

using testing::Insert;
using Events = std::vector<ferry::v1::ChangeEvent>;

class ReplicationOriginTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = ferry::testing::PgCluster::Start("apply-origin", /*logical=*/true);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cluster_ = std::move(c).value().release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    cluster_->Sql("SET client_min_messages = warning; DROP SCHEMA IF EXISTS app CASCADE; "
                  "CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, v text)");
  }

  Result<std::unique_ptr<TargetWriter>> Writer(const std::string& origin) {
    return TargetWriter::Connect(cluster_->conninfo(), {.replication_origin = origin});
  }
  std::string Progress(const std::string& origin) {
    return cluster_->Sql("SELECT pg_replication_origin_progress('" + origin + "', false)");
  }

  static ferry::testing::PgCluster* cluster_;
};

ferry::testing::PgCluster* ReplicationOriginTest::cluster_ = nullptr;

TEST_F(ReplicationOriginTest, MarksEveryTransactionAndRecordsTheSourceCommit) {
  cluster_->Sql("SELECT pg_create_logical_replication_slot('watch', 'test_decoding')");
  auto w = Writer("ferry_mark");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  TopicPartition tp{"mark.changes", 0};
  auto start = (*w)->LoadPosition(tp);  // inserts the position row
  ASSERT_TRUE(start.ok()) << start.status().ToString();

  ApplyPosition applied{Lsn(0x5000), 1, 9, 1700000000000000, "", Lsn(0x5030)};
  ASSERT_TRUE((*w)->Begin(tp, *start).ok());
  ASSERT_TRUE((*w)->Add(Events{Insert("t", "1").Text("v", "from the source").At(0x5000, 0)}, 0).ok());
  ASSERT_TRUE((*w)->Commit(applied).ok());
  ASSERT_TRUE((*w)->ApplyBatch(Events{Insert("t", "2").Text("v", "a replay")}).ok());
  cluster_->Sql("INSERT INTO app.t VALUES (3, 'the application')");

  EXPECT_EQ(Progress("ferry_mark"), "0/5030") << "the source commit's end, recorded with the commit";
  auto count = [&](const std::string& options) {
    return cluster_->Sql("SELECT count(*) FROM pg_logical_slot_peek_changes('watch', NULL, NULL" + options +
                         ") WHERE data LIKE 'table %'");
  };
  EXPECT_EQ(count(""), "5") << "the position row's insert and update, rows 1, 2 and 3";
  EXPECT_EQ(count(", 'only-local', '1'"), "1") << "only the application's write is not apply's";
  cluster_->Sql("SELECT pg_drop_replication_slot('watch')");
}

TEST_F(ReplicationOriginTest, HeldOnlyInsideATransactionSoStandbysTakeTurns) {
  auto a = Writer("ferry_turns");
  auto b = Writer("ferry_turns");  // a hot standby connects while `a` applies
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  TopicPartition tp{"turns.changes", 0};
  auto p0 = (*a)->LoadPosition(tp);
  ASSERT_TRUE(p0.ok()) << p0.status().ToString();
  ASSERT_TRUE((*b)->LoadPosition(tp).ok());

  ApplyPosition p1{Lsn(0x6000), 0, 1, 1, "", Lsn(0x6010)};
  ASSERT_TRUE((*a)->Begin(tp, *p0).ok());
  ASSERT_TRUE((*a)->Add(Events{Insert("t", "1").At(0x6000, 0)}, 0).ok());
  ASSERT_TRUE((*a)->Commit(p1).ok());

  // `a` failed a transaction and rolled it back: the origin is free again.
  ApplyPosition p2{Lsn(0x7000), 0, 2, 2, "", Lsn(0x7010)};
  ASSERT_TRUE((*a)->Begin(tp, p1).ok());
  EXPECT_FALSE((*a)->Add(Events{Insert("t", "2").Text("nope", "x")}, 0).ok());
  (*a)->Abort();
  ASSERT_TRUE((*b)->Begin(tp, p1).ok()) << "the standby takes over";
  ASSERT_TRUE((*b)->Add(Events{Insert("t", "2").At(0x7000, 0)}, 0).ok());
  ASSERT_TRUE((*b)->Commit(p2).ok());
  EXPECT_EQ(Progress("ferry_turns"), "0/7010");

  Status stale = (*a)->Begin(tp, p1);
  EXPECT_TRUE((*a)->position_moved()) << stale.ToString();
  ApplyPosition p3{Lsn(0x8000), 0, 3, 3, "", Lsn(0x8010)};
  ASSERT_TRUE((*a)->Begin(tp, p2).ok());
  ASSERT_TRUE((*a)->Add(Events{Insert("t", "3").At(0x8000, 0)}, 0).ok());
  ASSERT_TRUE((*a)->Commit(p3).ok());
  EXPECT_EQ(Progress("ferry_turns"), "0/8010");
  EXPECT_EQ(cluster_->Sql("SELECT count(*) FROM app.t"), "3");
}

// A target of a version without origins: its position row is where the
// origin starts.
TEST_F(ReplicationOriginTest, AnExistingPositionSeedsANewOrigin) {
  TopicPartition tp{"old.changes", 0};
  {
    auto old = TargetWriter::Connect(cluster_->conninfo(), {});
    ASSERT_TRUE(old.ok()) << old.status().ToString();
    auto p0 = (*old)->LoadPosition(tp);
    ASSERT_TRUE(p0.ok());
    ASSERT_TRUE((*old)->Begin(tp, *p0).ok());
    ASSERT_TRUE((*old)->Add(Events{Insert("t", "1").At(0x9000, 0)}, 0).ok());
    ASSERT_TRUE((*old)->Commit({Lsn(0x9000), 0, 5, 5, "", Lsn(0x9010)}).ok());
  }
  auto w = Writer("ferry_old");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(Progress("ferry_old"), "") << "created, never advanced";
  auto p = (*w)->LoadPosition(tp);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(Progress("ferry_old"), "0/9000");
}

TEST_F(ReplicationOriginTest, ARoleWithoutTheOriginFunctionsIsToldWhatToGrant) {
  cluster_->Sql("CREATE ROLE lowly LOGIN");
  cluster_->Sql("CREATE DATABASE lowdb OWNER lowly");
  const std::string conninfo = cluster_->conninfo() + " dbname=lowdb user=lowly";
  auto refused = TargetWriter::Connect(conninfo, {.target_triggers = true, .replication_origin = "ferry_low"});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("GRANT EXECUTE ON FUNCTION pg_replication_origin_create(text)"),
            std::string::npos)
      << refused.status().ToString();

  // Functions belong to a database: granted in the target's.
  auto admin = PgConn::Connect(cluster_->conninfo() + " dbname=lowdb");
  ASSERT_TRUE(admin.ok()) << admin.status().ToString();
  auto grant = admin->Exec("GRANT EXECUTE ON FUNCTION pg_replication_origin_create(text), "
                           "pg_replication_origin_oid(text), pg_replication_origin_session_setup(text), "
                           "pg_replication_origin_session_reset(), "
                           "pg_replication_origin_xact_setup(pg_lsn, timestamptz), "
                           "pg_replication_origin_advance(text, pg_lsn), "
                           "pg_replication_origin_progress(text, boolean) TO lowly");
  ASSERT_TRUE(grant.ok()) << grant.status().ToString();
  auto granted = TargetWriter::Connect(conninfo, {.target_triggers = true, .replication_origin = "ferry_low"});
  ASSERT_TRUE(granted.ok()) << granted.status().ToString();
  auto p = (*granted)->LoadPosition({"low.changes", 0});
  EXPECT_TRUE(p.ok()) << p.status().ToString();
}

}  // namespace
}  // namespace ferry::apply
