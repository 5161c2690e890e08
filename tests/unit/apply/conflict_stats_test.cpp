// ConflictStats: the counts apply logs, and the Prometheus series they feed.
#include "apply/conflict_stats.h"

#include <gtest/gtest.h>

#include "common/ferry_metrics.h"

namespace ferry::apply {
namespace {

TEST(ConflictStatsTest, CountsPerTableKindAndResolutionAndFeedsTheMetric) {
  ConflictStats stats;
  auto& metric = metrics::Conflicts("app.stats_t", "update_missing", "inserted");
  int64_t before = metric.value();
  stats.Add("\"app\".\"stats_t\"", ConflictKind::kUpdateMissing, Resolution::kInserted, 2);
  stats.Add("\"app\".\"stats_t\"", ConflictKind::kInsertExists, Resolution::kSkipped);
  stats.Add("\"app\".\"stats_t\"", ConflictKind::kUpdateMissing, Resolution::kInserted);

  EXPECT_EQ(stats.Total(), 4);
  auto snap = stats.Snapshot();
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_EQ(snap[0].kind, ConflictKind::kInsertExists);
  EXPECT_EQ(snap[0].count, 1);
  EXPECT_EQ(snap[1].count, 3);
  EXPECT_EQ(metric.value() - before, 3);
  EXPECT_EQ(metrics::Conflicts("app.stats_t", "insert_exists", "skipped").value(), 1);
}

}  // namespace
}  // namespace ferry::apply
