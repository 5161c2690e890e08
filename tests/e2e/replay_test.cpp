// A partition holding an older event after a newer one (what the dev broker
// writes when an idempotent producer retries a batch whose ack was lost) must
// not revert the row; apply skips the stale copy.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/pipeline.h"
#include "transport/change_event.pb.h"
#include "transport/event_producer.h"
#include "transport/naming.h"

namespace ferry::testing {
namespace {

ferry::v1::ChangeEvent Upsert(uint64_t commit_lsn, const std::string& value) {
  ferry::v1::ChangeEvent e;
  e.set_schema("public");
  e.set_table("t");
  e.set_op(ferry::v1::OP_UPDATE);
  e.set_commit_lsn(commit_lsn);
  e.add_key_columns("id");
  auto* id = e.add_columns();
  id->set_name("id");
  id->set_kind(ferry::v1::Column::KIND_TEXT);
  id->set_value("1");
  id->set_is_key(true);
  auto* v = e.add_columns();
  v->set_name("v");
  v->set_kind(ferry::v1::Column::KIND_TEXT);
  v->set_value(value);
  return e;
}

TEST(ReplayTest, StaleDuplicateAfterNewerEventDoesNotRevertTheRow) {
  auto p = Pipeline::Start("replay", /*in_process_broker=*/true);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.target().Sql("CREATE TABLE t (id int PRIMARY KEY, v text)");

  Status failed;
  auto producer = transport::EventProducer::Create({pl.brokers(), {}}, [&](const transport::Delivery& d) {
    if (!d.status.ok()) failed = d.status;
  });
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  const std::string topic = transport::TopicFor("ferry", "public", "t");
  const std::string key = transport::EncodeRowKey({{"id", "1"}});
  uint64_t token = 0;
  for (const auto& e : {Upsert(100, "old"), Upsert(200, "new"), Upsert(100, "old")}) {
    ASSERT_TRUE((*producer)->Produce(topic, key, e.SerializeAsString(), ++token).ok());
  }
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  ASSERT_TRUE(failed.ok()) << failed.ToString();

  ASSERT_TRUE(pl.StartApply());
  for (int i = 0; i < 300 && pl.target().Sql("SELECT v FROM t") != "new"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // Give the stale copy time to arrive, then check it did not win.
  for (int i = 0; i < 100 && pl.apply().LogTail().find("skipped 1 events") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(pl.target().Sql("SELECT v FROM t"), "new") << pl.apply().LogTail();
  EXPECT_NE(pl.apply().LogTail().find("skipped 1 events already applied"), std::string::npos)
      << pl.apply().LogTail();
}

}  // namespace
}  // namespace ferry::testing
