// EventApplier and Reconciler against a real target PostgreSQL and a real
// failure store: a rejected event is narrowed out of its batch and parked,
// later events of its row (and a TRUNCATE of its table) wait behind it, and the
// reconciler replays them in order once the target is fixed.
#include "apply/parking.h"

#include <gtest/gtest.h>

#include "apply/failure_reconciler.h"
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
// park by table, as the stream keeps them in one partition.
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
    auto w = TargetWriter::Connect(cluster_->conninfo(), {});
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    writer_ = std::move(w).value();
    auto s = checkpoint::FailureStore::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  Status Apply(OnError mode, const Events& events) {
    std::vector<MessageOrigin> origins;
    for (size_t i = 0; i < events.size(); ++i) {
      origins.push_back({{"ferry.app.p", 0}, next_offset_++});
    }
    FailurePolicy policy;
    policy.on_error = mode;
    EventApplier applier(policy, *store_);
    return applier.Apply(*writer_, events, origins);
  }

  std::string Rows() { return cluster_->Sql("SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM app.p"); }

  // A batch whose row 3 is rejected, then a later event of row 3.
  Events BatchWithBadRow() {
    Events batch;
    for (int id = 1; id <= 6; ++id) batch.push_back(Insert("p", std::to_string(id)).Text("v", id == 3 ? "bad" : "ok"));
    batch.push_back(Update("p", "3").Text("v", "fine"));
    batch.push_back(Update("p", "4").Text("v", "four"));
    return batch;
  }

  ferry::testing::PgCluster* cluster_ = nullptr;
  ferry::testing::TempDir dir_{"parking"};
  std::unique_ptr<TargetWriter> writer_;
  std::unique_ptr<checkpoint::FailureStore> store_;
  int64_t next_offset_ = 0;
};

TEST_F(ParkingStoreTest, RejectedEventIsNarrowedOutAndItsRowWaitsBehindIt) {
  ASSERT_TRUE(Apply(OnError::kPark, BatchWithBadRow()).ok());
  EXPECT_EQ(Rows(), "1=ok,2=ok,4=four,5=ok,6=ok");
  auto parked = store_->List();
  ASSERT_TRUE(parked.ok());
  ASSERT_EQ(parked->size(), 2u);
  EXPECT_NE((*parked)[0].error.find("no_bad"), std::string::npos) << (*parked)[0].error;
  EXPECT_NE((*parked)[0].description.find("{\"id\":\"3\"}"), std::string::npos);
  EXPECT_EQ((*parked)[0].offset, 2);
  EXPECT_NE((*parked)[1].error.find("held behind"), std::string::npos);
  EXPECT_EQ((*parked)[1].offset, 6);

  // A later batch: row 3 is still held, the others go through.
  ASSERT_TRUE(Apply(OnError::kPark, {Update("p", "3").Text("v", "again"), Update("p", "5").Text("v", "five")}).ok());
  EXPECT_EQ(Rows(), "1=ok,2=ok,4=four,5=five,6=ok");
  EXPECT_EQ(store_->Count(), 3u);
}

TEST_F(ParkingStoreTest, StopNamesTheEventAndLeavesItUnapplied) {
  Status st = Apply(OnError::kStop, BatchWithBadRow());
  ASSERT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("{\"id\":\"3\"}"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("\"app\".\"p\""), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("commit LSN"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("no_bad"), std::string::npos) << st.ToString();
  EXPECT_EQ(cluster_->Sql("SELECT count(*) FROM app.p WHERE id = 3"), "0");
  EXPECT_EQ(store_->Count(), 0u);
}

TEST_F(ParkingStoreTest, ReconcilerReplaysRowsInOrderAndATruncateAfterThem) {
  ASSERT_TRUE(Apply(OnError::kPark, BatchWithBadRow()).ok());
  ferry::v1::ChangeEvent truncate = Event("app", "p", ferry::v1::OP_TRUNCATE);
  ASSERT_TRUE(Apply(OnError::kPark, {truncate, Insert("p", "30").Text("v", "after truncate")}).ok());
  EXPECT_EQ(store_->Count(), 4u) << "the truncate waits behind row 3, the insert behind the truncate";
  EXPECT_EQ(Rows(), "1=ok,2=ok,4=four,5=ok,6=ok");

  Reconciler reconciler(*store_);
  auto still = reconciler.Pass(*writer_, /*due_only=*/false);
  ASSERT_TRUE(still.ok()) << still.status().ToString();
  EXPECT_EQ(still->replayed, 0);
  EXPECT_EQ(still->failed, 1) << "only the head of row 3 is tried";
  EXPECT_EQ(store_->Count(), 4u);

  cluster_->Sql("ALTER TABLE app.p DROP CONSTRAINT no_bad");
  auto pass = reconciler.Pass(*writer_, /*due_only=*/false);
  ASSERT_TRUE(pass.ok()) << pass.status().ToString();
  EXPECT_EQ(pass->replayed, 4) << pass->ToString();
  EXPECT_EQ(store_->Count(), 0u);
  EXPECT_FALSE(store_->IsParked(ParkingRow(Update("p", "3"))));
  EXPECT_EQ(Rows(), "30=after truncate");
}

}  // namespace
}  // namespace ferry::apply
