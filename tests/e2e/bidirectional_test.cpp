// Both directions at once: the forward pipeline (source -> target) and the
// reverse one (target -> source, as rollback runs it) replicate while an
// application writes on both databases, on disjoint rows (each side its own
// ids) and on overlapping ones (the same keys inserted on both sides before
// either apply ran, then updated on one side and later on the other).
//   - Nothing is replicated back where it came from: each capture publishes
//     exactly the rows its own database's application changed (counted per
//     direction, from the statements and from ferry_capture_events_total), and
//     each drops the other apply's transactions by their replication origin.
//   - The overlapping inserts are conflicts, resolved by each apply's
//     --conflict (forward replace, reverse none: the source's row wins on both
//     sides) and counted (ferry_apply_conflicts_total).
//   - Both databases converge.
#include <gtest/gtest.h>

#include <thread>

#include "tests/e2e/app_writer.h"
#include "tests/support/eventually.h"
#include "tests/support/metrics_scrape.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

constexpr int kShared = 100;

// A round on one side: a new item of its own (even ids on the source, odd on
// the target), one of its earlier items updated, every fourth round an older
// one deleted.
AppWriter::Round ItemsRound(int side) {
  return [side](int64_t n) {
    auto id = [side](int64_t k) { return std::to_string(2 * k + side); };
    return std::vector<std::string>{
        "INSERT INTO items VALUES (" + id(n) + ", '" + std::to_string(side) + "', 0)",
        "UPDATE items SET n = n + 1 WHERE id = " + id(n / 2),
        n % 4 == 0 ? "DELETE FROM items WHERE id = " + id(n - 20) : ""};
  };
}

// Rows an UPDATE of the shared rows changed, in rounds, on one side.
int64_t UpdateShared(const PgCluster& c, const std::string& value) {
  int64_t changed = 0;
  for (int r = 0; r < 5; ++r) {
    auto conn = c.Connect();
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    if (!conn.ok()) return changed;
    auto res = conn->Exec("UPDATE shared SET v = '" + value + "', n = n + 1 WHERE id % 5 = " + std::to_string(r));
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    if (res.ok()) changed += std::stoll(PQcmdTuples(res->get()));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return changed;
}

TEST(BidirectionalTest, NothingComesBackAndBothSidesConverge) {
  auto p = Pipeline::Start("bidir", /*in_process_broker=*/false, /*logical_target=*/true);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto& pl = **p;
  pl.CreateOnBoth(
      "CREATE TABLE items (id bigint PRIMARY KEY, side text NOT NULL, n int NOT NULL);"
      "CREATE TABLE shared (id int PRIMARY KEY, v text NOT NULL, n int NOT NULL);");
  const std::vector<std::string> metrics{"--metrics-addr", "127.0.0.1:0"};
  ASSERT_TRUE(pl.StartCapture(metrics));
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();
  ASSERT_TRUE(pl.StartReverseCapture(metrics));
  ASSERT_TRUE(pl.WaitReverseCaptureStreaming()) << pl.reverse_capture().LogTail();

  // The same keys on both sides before either apply runs: every one a conflict.
  const std::string shared = "INSERT INTO shared SELECT g, '%', 0 FROM generate_series(1, 100) g";
  pl.source().Sql(std::string(shared).replace(shared.find('%'), 1, "source"));
  pl.target().Sql(std::string(shared).replace(shared.find('%'), 1, "target"));
  int64_t source_rows = kShared, target_rows = kShared;

  std::vector<std::string> forward = metrics, reverse = metrics;
  forward.insert(forward.end(), {"--conflict", "replace"});
  reverse.insert(reverse.end(), {"--conflict", "none"});
  ASSERT_TRUE(pl.StartApply(forward));
  ASSERT_TRUE(pl.StartReverseApply(reverse));
  AppWriter on_source(pl.source().conninfo(), ItemsRound(0));
  AppWriter on_target(pl.target().conninfo(), ItemsRound(1));
  on_source.Start();
  on_target.Start();

  // The source's rows won the conflicts on both sides.
  ASSERT_TRUE(Eventually([&] { return pl.Diff("shared", "id").empty(); }, seconds(60)))
      << pl.Diff("shared", "id") << pl.apply().LogTail() << pl.reverse_apply().LogTail();
  EXPECT_EQ(pl.target().Sql("SELECT count(*) FROM shared WHERE v = 'source'"), std::to_string(kShared));
  // The overlapping rows updated on one side, then on the other, under load.
  source_rows += UpdateShared(pl.source(), "updated on the source");
  ASSERT_TRUE(Eventually([&] { return pl.Diff("shared", "id").empty(); }, seconds(60))) << pl.Diff("shared", "id");
  target_rows += UpdateShared(pl.target(), "updated on the target");
  ASSERT_TRUE(on_source.WaitRounds(300)) << on_source.error();
  ASSERT_TRUE(on_target.WaitRounds(300)) << on_target.error();
  on_source.Stop();
  on_target.Stop();
  ASSERT_EQ(on_source.error(), "");
  ASSERT_EQ(on_target.error(), "");
  source_rows += on_source.rows_changed();
  target_rows += on_target.rows_changed();

  for (const char* table : {"items", "shared"}) {
    EXPECT_TRUE(pl.WaitConverged(table, "id", seconds(60)))
        << pl.Diff(table, "id") << pl.apply().LogTail() << pl.reverse_apply().LogTail();
  }
  EXPECT_EQ(pl.source().Sql("SELECT count(*) FROM shared WHERE v = 'updated on the target'"),
            std::to_string(kShared));

  // Each capture published exactly its own database's changes: nothing came back.
  const std::string fwd = MetricsAddress(pl.capture()), rev = MetricsAddress(pl.reverse_capture());
  EXPECT_EQ(Scrape(fwd, "ferry_capture_events_total"), static_cast<double>(source_rows)) << pl.capture().LogTail();
  EXPECT_EQ(Scrape(rev, "ferry_capture_events_total"), static_cast<double>(target_rows))
      << pl.reverse_capture().LogTail();
  EXPECT_TRUE(WaitLog(pl.capture(), "dropping transactions of replication origin 'ferry_ferry_reverse'",
                      std::chrono::seconds(1)));
  EXPECT_TRUE(WaitLog(pl.reverse_capture(), "dropping transactions of replication origin 'ferry_ferry'",
                      std::chrono::seconds(1)));
  std::printf("source changed %lld rows, target %lld; each capture published exactly its own\n",
              static_cast<long long>(source_rows), static_cast<long long>(target_rows));

  // The conflicts, resolved by each side's rule and counted.
  std::string body;
  EXPECT_EQ(Scrape(MetricsAddress(pl.apply()), "ferry_apply_conflicts_total", &body), kShared) << body;
  EXPECT_NE(body.find("kind=\"insert_exists\",resolution=\"overwritten\""), std::string::npos) << body;
  EXPECT_EQ(Scrape(MetricsAddress(pl.reverse_apply()), "ferry_apply_conflicts_total", &body), kShared) << body;
  EXPECT_NE(body.find("kind=\"insert_exists\",resolution=\"skipped\""), std::string::npos) << body;
}

}  // namespace
}  // namespace ferry::testing
