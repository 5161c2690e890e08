// UnitApplier and Reconciler against a real target PostgreSQL and a real
// failure store: a rejected transaction is taken out of its group and handled
// by --on-error whole, later transactions that change its rows (and a TRUNCATE
// of its table) wait behind it, and the reconciler replays them in order, each
// as one transaction, once the target is fixed.
#include "apply/parking.h"

#include <gtest/gtest.h>

#include "apply/failure_reconciler.h"
#include "apply/unit_applier.h"
#include "tests/unit/apply/apply_test_support.h"

namespace ferry::apply {
namespace {

using testing::Event;
using testing::Insert;
using testing::Update;
using Events = std::vector<ferry::v1::ChangeEvent>;

TEST(ParkingTest, OnErrorParses) {
  EXPECT_EQ(*ParseOnError("stop"), OnError::kStop);
  EXPECT_EQ(*ParseOnError("retry"), OnError::kRetry);
  EXPECT_EQ(*ParseOnError("park"), OnError::kPark);
  EXPECT_EQ(ParseOnError("skip").status().code(), Status::Code::kInvalidArgument);
}

TEST(ParkingTest, RowsAreTableAndKeyAndATruncateIsItsTable) {
  std::string row = ParkingRow(Update("p", "7").Text("v", "x"));
  EXPECT_EQ(row, std::string("\"app\".\"p\"\0{\"id\":\"7\"}", 20));
  ferry::v1::ChangeEvent truncate = Event("app", "p", ferry::v1::OP_TRUNCATE);
  EXPECT_EQ(ParkingRow(truncate), std::string("\"app\".\"p\"\0", 10));
  EXPECT_EQ(TableOfRow(row), ParkingRow(truncate));
  EXPECT_EQ(ParkingRow(testing::Delete("p", "7")), row) << "a delete's key is its old key";
}

// A REPLICA IDENTITY FULL row has no key that survives its updates: its events
// park by table.
TEST(ParkingTest, RowsOfFullIdentityTablesAreTheirTable) {
  ferry::v1::ChangeEvent update = Update("p", "7").Text("v", "x");
  update.set_old_tuple(ferry::v1::ChangeEvent::OLD_FULL);
  ferry::v1::ChangeEvent truncate = Event("app", "p", ferry::v1::OP_TRUNCATE);
  EXPECT_EQ(ParkingRow(update), ParkingRow(truncate));
  ferry::v1::ChangeEvent insert = Event("app", "p", ferry::v1::OP_INSERT);
  for (const char* name : {"a", "b"}) {
    auto* c = insert.add_columns();
    c->set_name(name);
    c->set_kind(ferry::v1::Column::KIND_TEXT);
    c->set_value("1");
    c->set_is_key(true);
    insert.add_key_columns(name);
  }
  EXPECT_EQ(ParkingRow(insert), ParkingRow(truncate)) << "an insert whose columns are all key is FULL";
}

class ParkingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = testing::SharedTarget();
    ASSERT_NE(cluster_, nullptr);
    cluster_->Sql("SET client_min_messages = warning; DROP SCHEMA IF EXISTS app CASCADE; "
                  "CREATE SCHEMA app; CREATE TABLE app.p (id int PRIMARY KEY, v text "
                  "CONSTRAINT no_bad CHECK (v <> 'bad'))");
    ASSERT_TRUE(TargetWriter::Connect(cluster_->conninfo(), {}).ok());  // creates ferry.apply_progress
    cluster_->Sql("DELETE FROM ferry.apply_progress WHERE topic = 'ferry.parking'");
    auto s = checkpoint::FailureStore::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  std::unique_ptr<UnitApplier> Applier(OnError mode, int retry_max = 0, bool park_after_retries = false) {
    FailurePolicy policy{mode, retry_max, park_after_retries};
    auto a = std::make_unique<UnitApplier>(GroupLimits{}, policy,
                                           [this] { return TargetWriter::Connect(cluster_->conninfo(), {}); },
                                           *store_);
    auto start = a->Start(tp_);
    EXPECT_TRUE(start.ok()) << start.status().ToString();
    return a;
  }

  // One source transaction of `events`, as the assembler hands it on.
  Unit Tx(Events events) {
    Unit u;
    const uint64_t lsn = 0x1000 + 0x100 * ++next_tx_;
    u.first_offset = next_offset_;
    for (size_t i = 0; i < events.size(); ++i) {
      events[i].set_commit_lsn(lsn);
      events[i].set_index_in_tx(static_cast<uint32_t>(i));
      u.offsets.push_back(next_offset_++);
    }
    u.end.set_op(ferry::v1::OP_END);
    u.end.set_commit_lsn(lsn);
    u.end.set_xid(next_tx_);
    u.end.set_index_in_tx(static_cast<uint32_t>(events.size()));
    u.end.set_unit_events(static_cast<uint32_t>(events.size()));
    u.end_offset = next_offset_++;
    u.events = std::move(events);
    return u;
  }

  std::string Rows() { return cluster_->Sql("SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM app.p"); }

  // Three transactions in one group: the second one's row 3 is rejected, the
  // third changes row 3 again and row 4.
  Status ApplyGroupWithBadTransaction(UnitApplier& a) {
    FERRY_RETURN_IF_ERROR(a.OnUnit(Tx({Insert("p", "1").Text("v", "ok"), Insert("p", "2").Text("v", "ok")})));
    FERRY_RETURN_IF_ERROR(a.OnUnit(Tx({Insert("p", "5").Text("v", "ok"), Insert("p", "3").Text("v", "bad")})));
    FERRY_RETURN_IF_ERROR(a.OnUnit(Tx({Update("p", "3").Text("v", "fine"), Insert("p", "4").Text("v", "four")})));
    FERRY_RETURN_IF_ERROR(a.OnUnit(Tx({Insert("p", "6").Text("v", "ok")})));
    return a.CommitGroup();
  }

  ferry::testing::PgCluster* cluster_ = nullptr;
  ferry::testing::TempDir dir_{"parking"};
  std::unique_ptr<checkpoint::FailureStore> store_;
  TopicPartition tp_{"ferry.parking", 0};
  int64_t next_offset_ = 0;
  uint32_t next_tx_ = 0;
};

TEST_F(ParkingStoreTest, RejectedTransactionIsParkedWholeAndTheOnesChangingItsRowsWaitBehindIt) {
  auto a = Applier(OnError::kPark);
  ASSERT_TRUE(ApplyGroupWithBadTransaction(*a).ok());
  EXPECT_EQ(Rows(), "1=ok,2=ok,6=ok") << "neither half of the rejected transaction, nor the one behind it";
  auto parked = store_->List();
  ASSERT_TRUE(parked.ok());
  ASSERT_EQ(parked->size(), 6u) << "two transactions of two events, each with its end";
  EXPECT_NE((*parked)[1].error.find("no_bad"), std::string::npos) << (*parked)[1].error;
  EXPECT_NE((*parked)[1].error.find("{\"id\":\"3\"}"), std::string::npos) << (*parked)[1].error;
  EXPECT_EQ((*parked)[0].unit, 3) << "records name their transaction by its first offset";
  EXPECT_NE((*parked)[3].error.find("held behind"), std::string::npos);
  EXPECT_EQ(a->applied().offset, 10) << "past every transaction: " << a->applied().ToString();

  // A later transaction of row 3 still waits; others go through.
  ASSERT_TRUE(a->OnUnit(Tx({Update("p", "3").Text("v", "again")})).ok());
  ASSERT_TRUE(a->OnUnit(Tx({Update("p", "6").Text("v", "six")})).ok());
  ASSERT_TRUE(a->CommitGroup().ok());
  EXPECT_EQ(Rows(), "1=ok,2=ok,6=six");
  EXPECT_EQ(store_->Count(), 8u);
}

TEST_F(ParkingStoreTest, StopNamesTheEventAndLeavesItsTransactionUnapplied) {
  auto a = Applier(OnError::kStop);
  Status st = ApplyGroupWithBadTransaction(*a);
  ASSERT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("{\"id\":\"3\"}"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("\"app\".\"p\""), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("commit LSN"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("offsets 3..5"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("no_bad"), std::string::npos) << st.ToString();
  EXPECT_EQ(Rows(), "1=ok,2=ok") << "the transaction before it committed, nothing of it";
  EXPECT_EQ(a->applied().offset, 2) << "a restart resumes at the rejected transaction";
  EXPECT_EQ(store_->Count(), 0u);
}

TEST_F(ParkingStoreTest, RetryAppliesTheTransactionOnceTheTargetIsFixed) {
  auto a = Applier(OnError::kRetry, /*retry_max=*/1, /*park_after_retries=*/true);
  ASSERT_TRUE(a->OnUnit(Tx({Insert("p", "1").Text("v", "bad")})).ok());
  ASSERT_TRUE(a->CommitGroup().ok());  // one retry, then parked
  EXPECT_EQ(store_->Count(), 2u);
  auto parked = store_->List();
  ASSERT_TRUE(parked.ok());
  EXPECT_EQ((*parked)[0].attempts, 2u);
}

TEST_F(ParkingStoreTest, ReconcilerReplaysTransactionsInOrderAndATruncateAfterThem) {
  auto a = Applier(OnError::kPark);
  ASSERT_TRUE(ApplyGroupWithBadTransaction(*a).ok());
  ferry::v1::ChangeEvent truncate = Event("app", "p", ferry::v1::OP_TRUNCATE);
  ASSERT_TRUE(a->OnUnit(Tx({truncate, Insert("p", "30").Text("v", "after truncate")})).ok());
  ASSERT_TRUE(a->CommitGroup().ok());
  EXPECT_EQ(store_->Count(), 9u) << "the truncate's transaction waits behind row 3's";
  EXPECT_EQ(Rows(), "1=ok,2=ok,6=ok");

  auto w = TargetWriter::Connect(cluster_->conninfo(), {});
  ASSERT_TRUE(w.ok());
  Reconciler reconciler(*store_);
  auto still = reconciler.Pass(**w, /*due_only=*/false);
  ASSERT_TRUE(still.ok()) << still.status().ToString();
  EXPECT_EQ(still->replayed, 0);
  EXPECT_EQ(still->failed, 1) << "only the head of row 3 is tried";
  EXPECT_EQ(store_->Count(), 9u);

  cluster_->Sql("ALTER TABLE app.p DROP CONSTRAINT no_bad");
  auto pass = reconciler.Pass(**w, /*due_only=*/false);
  ASSERT_TRUE(pass.ok()) << pass.status().ToString();
  EXPECT_EQ(pass->replayed, 3) << pass->ToString();
  EXPECT_EQ(store_->Count(), 0u);
  EXPECT_FALSE(store_->IsParked(ParkingRow(Update("p", "3"))));
  EXPECT_EQ(Rows(), "30=after truncate");
}

}  // namespace
}  // namespace ferry::apply
