// An idle source must not pin WAL: with nothing of the publication changing,
// server keepalives move the slot's confirmed position forward. Also covers
// --tables (only the listed table is published).
#include <gtest/gtest.h>

#include <thread>

#include "common/lsn.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

TEST(IdleSourceTest, KeepalivesAdvanceTheSlotWhenNothingPublishedChanges) {
  auto p = Pipeline::Start("idle");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.CreateOnBoth("CREATE TABLE published (id int PRIMARY KEY, v text); CREATE TABLE ignored (id int PRIMARY KEY, v text)");
  ASSERT_TRUE(pl.StartApply());
  ASSERT_TRUE(pl.StartCapture({"--tables", "public.published"}));
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();
  pl.source().Sql("INSERT INTO published VALUES (1, 'x')");
  ASSERT_TRUE(pl.WaitConverged("published", "id", seconds(60))) << pl.apply().LogTail();

  // WAL that holds nothing the publication carries.
  pl.source().Sql("INSERT INTO ignored SELECT g, repeat('w', 200) FROM generate_series(1, 20000) g");
  auto written = Lsn::Parse(pl.source().Sql("SELECT pg_current_wal_lsn()"));
  ASSERT_TRUE(written.ok());
  Lsn confirmed;
  for (int i = 0; i < 300 && confirmed < *written; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    confirmed = *Lsn::Parse(pl.source().Sql("SELECT confirmed_flush_lsn FROM pg_replication_slots"));
  }
  EXPECT_GE(confirmed, *written) << pl.capture().LogTail();
  EXPECT_EQ(pl.target().Sql("SELECT count(*) FROM ignored"), "0") << "--tables publishes only what it lists";
  EXPECT_EQ(pl.source().Sql("SELECT string_agg(tablename, ',') FROM pg_publication_tables WHERE pubname = 'ferry'"),
            "published");
}

}  // namespace
}  // namespace ferry::testing
