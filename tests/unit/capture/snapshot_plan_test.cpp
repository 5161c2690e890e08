// Splitting a table's copy into parts, against a real PostgreSQL 15: the parts
// of a keyed table (key ranges cut at sampled keys) and of a keyless one
// (ranges of heap pages) together hold every row exactly once.
#include "capture/snapshot_plan.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <map>

#include "capture/capture_runner.h"
#include "capture/replication_stream.h"
#include "tests/support/pg_cluster.h"

namespace ferry::capture {
namespace {

// The Kafka keys of a part's rows, read as the copier reads them.
Result<std::vector<std::string>> ReadRange(const PgConn& conn, const SnapshotTable& t, const TableProgress& part,
                                           int64_t limit) {
  std::vector<std::string> keys;
  const bool bounded = part.upper.has_value();
  bool has_after = part.last_key.has_value();
  KeyValues after = part.last_key.value_or(KeyValues{});
  for (bool last = false; !last;) {
    std::vector<PgParam> params(after.begin(), has_after ? after.end() : after.begin());
    if (bounded) params.insert(params.end(), part.upper->begin(), part.upper->end());
    FERRY_ASSIGN_OR_RETURN(PgResult r, conn.ExecParams(BuildChunkQuery(t, has_after, limit, bounded), params));
    const int n = PQntuples(r.get());
    for (int row = 0; row < n; ++row) keys.push_back(KafkaKeyOf(t, r.get(), row));
    if (n > 0) {
      after = KeyOf(t, r.get(), n - 1);
      has_after = true;
    }
    last = n < limit;
  }
  return keys;
}

class SnapshotPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = testing::PgCluster::Start("snapplan", /*logical=*/false);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cluster_ = std::move(c).value();
    // A composite key whose order is not the columns', and a keyless table with
    // duplicate rows; some rows deleted, so pages are not all full.
    cluster_->Sql(
        "CREATE TABLE keyed (a int, v text, b text, PRIMARY KEY (b, a));"
        "INSERT INTO keyed SELECT g % 1000, 'v' || g, 'k' || (g / 1000) FROM generate_series(1, 40000) g;"
        "CREATE TABLE heap (a int, b text); ALTER TABLE heap REPLICA IDENTITY FULL;"
        "INSERT INTO heap SELECT g % 700, 'x' FROM generate_series(1, 30000) g;"
        "DELETE FROM keyed WHERE a % 13 = 0; DELETE FROM heap WHERE a % 11 = 0;"
        "ANALYZE keyed; ANALYZE heap;");
  }
  std::unique_ptr<testing::PgCluster> cluster_;
};

TEST(SnapshotPlanPartsTest, OnePartUnlessSeveralWorkersAndChunks) {
  EXPECT_EQ(PartsFor(1e6, {1, 10000}), 1) << "one worker";
  EXPECT_EQ(PartsFor(15000, {4, 10000}), 1) << "under two chunks";
  EXPECT_EQ(PartsFor(60000, {4, 10000}), 3);
  EXPECT_EQ(PartsFor(1e9, {4, 10000}), 16) << "at most 4 x workers";
}

// Runs `f` with this thread allowed on one CPU only (the first it may run on:
// a container's set need not hold CPU 0), as under `taskset -c N`.
template <typename F>
void OnOneCpu(F f) {
  cpu_set_t was, one;
  ASSERT_EQ(sched_getaffinity(0, sizeof(was), &was), 0);
  int first = 0;
  while (first < CPU_SETSIZE && !CPU_ISSET(first, &was)) ++first;
  ASSERT_LT(first, CPU_SETSIZE);
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  f();
  ASSERT_EQ(sched_setaffinity(0, sizeof(was), &was), 0);
}

// More workers than cores only take turns, and take CPU from the source and
// the target where they share the machine.
TEST(SnapshotPlanPartsTest, WorkersDefaultToTheCpusCaptureMayRunOnAtMostFour) {
  EXPECT_EQ(SnapshotWorkersFor(0), 1);
  EXPECT_EQ(SnapshotWorkersFor(2), 2);
  EXPECT_EQ(SnapshotWorkersFor(3), 3);
  EXPECT_EQ(SnapshotWorkersFor(64), 4);
  OnOneCpu([] {
    EXPECT_EQ(DefaultSnapshotWorkers(), 1);
    EXPECT_EQ(CaptureOptions{}.snapshot_workers, 1) << "capture's --snapshot-workers default";
  });
  cpu_set_t now;
  ASSERT_EQ(sched_getaffinity(0, sizeof(now), &now), 0);
  EXPECT_EQ(CaptureOptions{}.snapshot_workers, std::min(4, CPU_COUNT(&now)));
}

TEST_F(SnapshotPlanTest, KeyRangesHoldEveryRowOnce) {
  auto conn = cluster_->Connect();
  ASSERT_TRUE(conn.ok());
  auto t = LoadSnapshotTable(*conn, "public", "keyed");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  auto parts = PlanParts(*conn, *t, 7, {4, 1000});
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->size(), 16u);
  std::map<std::string, int> seen;
  for (size_t i = 0; i < parts->size(); ++i) {
    const CopyPart& p = (*parts)[i];
    EXPECT_EQ(p.table, 7u);
    EXPECT_EQ(p.progress.part, static_cast<int>(i));
    EXPECT_EQ(p.progress.last_key.has_value(), i > 0);
    EXPECT_EQ(p.progress.upper.has_value(), i + 1 < parts->size());
    if (i > 0) {
      EXPECT_EQ(p.progress.last_key, (*parts)[i - 1].progress.upper) << "ranges meet";
    }
    auto keys = ReadRange(*conn, *t, p.progress, 500);
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    for (const auto& key : *keys) ++seen[key];
    const size_t rows = keys->size();
    EXPECT_GT(rows, 0u) << "part " << i << " is empty: cuts badly spread";
  }
  EXPECT_EQ(std::to_string(seen.size()), cluster_->Sql("SELECT count(*) FROM keyed"));
  for (const auto& [key, n] : seen) EXPECT_EQ(n, 1) << key;
}

// A table loaded and never vacuumed nor analyzed (reltuples -1: a database just
// restored) is estimated from its size, as the planner does, so that its copy
// is still split among the workers and its progress has a total. It was taken
// as 0 rows: one part, read by one worker, "100%" from the first row.
TEST_F(SnapshotPlanTest, ATableNeverAnalyzedIsEstimatedFromItsSizeAndStillSplit) {
  cluster_->Sql("CREATE TABLE fresh (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false);"
                "INSERT INTO fresh SELECT g, 'v' || g FROM generate_series(1, 40000) g");
  ASSERT_EQ(cluster_->Sql("SELECT reltuples FROM pg_class WHERE relname = 'fresh'"), "-1");
  auto conn = cluster_->Connect();
  ASSERT_TRUE(conn.ok());
  auto t = LoadSnapshotTable(*conn, "public", "fresh");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_GT(t->estimated_rows, 20000);
  EXPECT_LT(t->estimated_rows, 80000);
  auto parts = PlanParts(*conn, *t, 0, {4, 1000});
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  EXPECT_GT(parts->size(), 4u);
  std::map<std::string, int> seen;
  for (const CopyPart& p : *parts) {
    auto keys = ReadRange(*conn, *t, p.progress, 5000);
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    for (const auto& key : *keys) ++seen[key];
  }
  EXPECT_EQ(seen.size(), 40000u);
  for (const auto& [key, n] : seen) EXPECT_EQ(n, 1) << key;

  // A part's chunk walks the key's index, in the readers' sessions: without
  // statistics the planner read the whole range through a bitmap and sorted it.
  auto reader = PgConn::Connect(cluster_->conninfo(), {{"options", kSnapshotReadOptions}});
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const TableProgress& middle = (*parts)[1].progress;
  std::vector<PgParam> bounds(middle.last_key->begin(), middle.last_key->end());
  bounds.insert(bounds.end(), middle.upper->begin(), middle.upper->end());
  auto plan = reader->ExecParams("EXPLAIN " + BuildChunkQuery(*t, true, 1000, true), bounds);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  std::string lines;
  for (int row = 0; row < PQntuples(plan->get()); ++row) lines += std::string(PQgetvalue(plan->get(), row, 0)) + "\n";
  EXPECT_NE(lines.find("Index Scan using fresh_pkey"), std::string::npos) << lines;
  EXPECT_EQ(lines.find("Sort"), std::string::npos) << lines;
}

TEST_F(SnapshotPlanTest, PageRangesHoldEveryRowOnce) {
  auto conn = cluster_->Connect();
  ASSERT_TRUE(conn.ok());
  auto t = LoadSnapshotTable(*conn, "public", "heap");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_TRUE(t->keyless());
  auto parts = PlanParts(*conn, *t, 0, {3, 1000});
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->size(), 12u);
  EXPECT_EQ(parts->front().first_page, 0);
  EXPECT_LT(parts->back().end_page, 0) << "the last range is open-ended";
  // Rows the plan never saw, on pages past its end.
  cluster_->Sql("INSERT INTO heap SELECT 5000, 'late' FROM generate_series(1, 2000)");
  std::map<std::string, int> seen;
  for (const CopyPart& p : *parts) {
    std::vector<PgParam> params{FirstTidOfPage(p.first_page)};
    if (p.end_page >= 0) params.push_back(FirstTidOfPage(p.end_page));
    auto r = conn->ExecParams(BuildPageRangeQuery(*t, p.end_page >= 0), params);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (int row = 0; row < PQntuples(r->get()); ++row) {
      ++seen[std::string(PQgetvalue(r->get(), row, 0)) + "/" + PQgetvalue(r->get(), row, 1)];
    }
  }
  auto want = conn->Exec("SELECT a || '/' || b, count(*) FROM heap GROUP BY 1");
  ASSERT_TRUE(want.ok());
  ASSERT_EQ(static_cast<int>(seen.size()), PQntuples(want->get()));
  for (int row = 0; row < PQntuples(want->get()); ++row) {
    EXPECT_EQ(std::to_string(seen[PQgetvalue(want->get(), row, 0)]), PQgetvalue(want->get(), row, 1))
        << PQgetvalue(want->get(), row, 0);
  }
}

}  // namespace
}  // namespace ferry::capture
