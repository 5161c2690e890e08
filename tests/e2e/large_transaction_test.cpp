// A transaction far larger than what apply holds in memory (and than the dev
// broker keeps per partition) is applied atomically: apply streams it into one
// target transaction as it arrives, flow control lets capture go on because
// apply reports how far it has read, and a reader of the target sees either
// none of its rows or all of them, never a part.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "tests/support/eventually.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

constexpr int kRows = 200000;

TEST(LargeTransactionTest, ReadersNeverSeePartOfIt) {
  auto p = Pipeline::Start("largetx");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.CreateOnBoth("CREATE TABLE big (id int PRIMARY KEY, note text); CREATE TABLE small (id int PRIMARY KEY)");
  // 1 MiB held at most: the transaction (about 8 MB of rows, a few MB even as
  // compressed batches) is streamed.
  ASSERT_TRUE(pl.StartApply({"--transaction-buffer-bytes", "1048576"}));
  ASSERT_TRUE(pl.StartCapture());
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();

  std::atomic<bool> stop{false};
  std::set<std::string> seen;  // distinct counts the reader saw
  std::string reader_error;
  std::thread reader([&] {
    auto conn = pl.target().Connect();
    if (!conn.ok()) {
      reader_error = conn.status().ToString();
      return;
    }
    while (!stop) {
      auto r = conn->Exec("SELECT count(*) FROM big");
      if (!r.ok()) {
        reader_error = r.status().ToString();
        return;
      }
      seen.insert(PQgetvalue(r->get(), 0, 0));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  pl.source().Sql("INSERT INTO small VALUES (1)");
  pl.source().Sql("INSERT INTO big SELECT g, 'row ' || g || ' of one large transaction' FROM generate_series(1, " +
                  std::to_string(kRows) + ") g");
  pl.source().Sql("INSERT INTO small VALUES (2)");
  EXPECT_TRUE(pl.WaitConverged("big", "id", seconds(300))) << pl.Diff("big", "id") << pl.apply().LogTail();
  EXPECT_TRUE(pl.WaitConverged("small", "id", seconds(60))) << pl.Diff("small", "id");
  stop = true;
  reader.join();
  ASSERT_TRUE(reader_error.empty()) << reader_error;
  EXPECT_EQ(seen, (std::set<std::string>{"0", std::to_string(kRows)}))
      << "a reader saw part of the transaction";
  EXPECT_NE(pl.apply().LogTail(200).find("applying it as it arrives"), std::string::npos)
      << "it was streamed, not held: " << pl.apply().LogTail();
}

// A large transaction's inserts go into one open COPY with no savepoint;
// a row the target already holds makes the target refuse that COPY. Apply
// then applies the transaction again by statements, which resolve the row
// under the conflict rule (replace: overwritten) and count it. The same
// whether the inserts travel in batches (--transaction-events batch, the
// default) or one event per row.
class LargeTransactionEventsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LargeTransactionEventsTest, ARowTheTargetAlreadyHoldsIsResolvedAsAStatementWouldDo) {
  auto p = Pipeline::Start("largetx-held-" + GetParam());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.CreateOnBoth("CREATE TABLE big (id int PRIMARY KEY, note text)");
  pl.target().Sql("INSERT INTO big VALUES (30000, 'only on the target')");
  ASSERT_TRUE(pl.StartApply({"--transaction-buffer-bytes", "131072"}));
  ASSERT_TRUE(pl.StartCapture({"--transaction-events", GetParam()}));
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();
  pl.source().Sql("INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 60000) g");
  EXPECT_TRUE(pl.WaitConverged("big", "id", seconds(180))) << pl.Diff("big", "id") << pl.apply().LogTail();
  auto counted = [&] { return pl.apply().LogTail(400).find("insert_exists/overwritten=1") != std::string::npos; };
  EXPECT_TRUE(Eventually(counted, seconds(30))) << pl.apply().LogTail();
  const std::string log = pl.apply().LogTail(400);
  EXPECT_NE(log.find("applying it again by statements"), std::string::npos) << log;
}

INSTANTIATE_TEST_SUITE_P(Events, LargeTransactionEventsTest, ::testing::Values("batch", "row"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace ferry::testing
