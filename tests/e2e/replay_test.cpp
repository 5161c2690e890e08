// What the changes topic can hold besides each unit once, and how apply treats
// it: a unit resent after it was applied (capture or the source restarted), an
// event the broker wrote twice (an idempotent retry whose ack was lost), a
// unit capture never finished (it died mid-transaction and its next session
// sent it again), and a late copy from that older session. None may revert a
// row or be applied twice; the resent unit is applied once.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/eventually.h"
#include "tests/support/pipeline.h"
#include "transport/change_event.pb.h"
#include "transport/event_producer.h"
#include "transport/naming.h"

namespace ferry::testing {
namespace {

using ferry::v1::ChangeEvent;

ChangeEvent Upsert(uint64_t commit_lsn, uint64_t session, const std::string& value) {
  ChangeEvent e;
  e.set_schema("public");
  e.set_table("t");
  e.set_op(ferry::v1::OP_UPDATE);
  e.set_commit_lsn(commit_lsn);
  e.set_capture_session(session);
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

ChangeEvent End(uint64_t commit_lsn, uint64_t session) {
  ChangeEvent e;
  e.set_op(ferry::v1::OP_END);
  e.set_commit_lsn(commit_lsn);
  e.set_xid(static_cast<uint32_t>(commit_lsn));
  e.set_capture_session(session);
  e.set_index_in_tx(1);
  e.set_unit_events(1);
  return e;
}

TEST(ReplayTest, ResentDuplicatedAndAbandonedUnitsApplyOnceAndNeverRevert) {
  auto p = Pipeline::Start("replay", /*in_process_broker=*/true);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.target().Sql("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE seen (v text);"
                  "CREATE FUNCTION note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                  "INSERT INTO seen VALUES (NEW.v); RETURN NEW; END $$;"
                  "CREATE TRIGGER note AFTER INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION note();"
                  "ALTER TABLE t ENABLE ALWAYS TRIGGER note");

  Status failed;
  transport::EventProducerOptions one_partition;
  one_partition.topic_partitions = 1;
  auto producer = transport::EventProducer::Create(
      {pl.brokers(), {}}, [&](const transport::Delivery& d) { if (!d.status.ok()) failed = d.status; },
      one_partition);
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  const std::string topic = transport::ChangesTopic("ferry");
  const std::vector<ChangeEvent> messages = {
      Upsert(100, 5, "a"), End(100, 5),
      Upsert(200, 5, "b"), Upsert(200, 5, "b"),  // written twice by the broker
      End(200, 5),
      Upsert(100, 5, "a"), End(100, 5),  // resent after it was applied
      Upsert(300, 5, "never"),           // capture died before its end
      Upsert(300, 6, "c"), End(300, 6),  // its next session sends it again
      Upsert(300, 5, "never"),           // a late copy from the older session
  };
  uint64_t token = 0;
  for (const auto& e : messages) {
    ASSERT_TRUE((*producer)->Produce(topic, "", e.SerializeAsString(), ++token, 0).ok());
  }
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  ASSERT_TRUE(failed.ok()) << failed.ToString();

  ASSERT_TRUE(pl.StartApply());
  ASSERT_TRUE(Eventually([&] { return pl.target().Sql("SELECT v FROM t") == "c"; }, std::chrono::seconds(60)))
      << pl.apply().LogTail();
  ASSERT_TRUE(Eventually([&] { return pl.apply().LogTail().find("skipped") != std::string::npos; },
                         std::chrono::seconds(15)));
  EXPECT_EQ(pl.target().Sql("SELECT string_agg(v, ',') FROM seen"), "a,b,c")
      << "each unit applied once, in order, nothing of the unfinished one: " << pl.apply().LogTail();
  const std::string log = pl.apply().LogTail();
  EXPECT_NE(log.find("2 replays, 1 duplicates, 1 stale"), std::string::npos) << log;
  EXPECT_NE(log.find("1 unfinished units abandoned"), std::string::npos) << log;
}

}  // namespace
}  // namespace ferry::testing
