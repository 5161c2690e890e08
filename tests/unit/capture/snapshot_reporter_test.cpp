// SnapshotReporter: the progress it logs is also on the metrics endpoint.
#include "capture/snapshot_reporter.h"

#include <gtest/gtest.h>

#include "common/ferry_metrics.h"

namespace ferry::capture {
namespace {

TEST(SnapshotReporterTest, ProgressIsPublishedAsGauges) {
  SnapshotReporter reporter("reporter test", /*estimated_rows=*/1000, /*tables=*/2);
  reporter.AddRows(600);
  reporter.TableDone();
  reporter.MaybeLog();
  EXPECT_EQ(metrics::SnapshotProgress("reporter test", "rows").value(), 600);
  EXPECT_EQ(metrics::SnapshotProgress("reporter test", "rows_estimated").value(), 1000);
  EXPECT_EQ(metrics::SnapshotProgress("reporter test", "tables_done").value(), 1);
  EXPECT_EQ(metrics::SnapshotProgress("reporter test", "tables").value(), 2);
  // reltuples underestimated: the total never falls below what was read.
  reporter.AddRows(900);
  reporter.MaybeLog();
  EXPECT_EQ(metrics::SnapshotProgress("reporter test", "rows_estimated").value(), 1500);
  EXPECT_NE(reporter.Summary().find("1500 of ~1500 rows, 1 of 2 tables done"), std::string::npos)
      << reporter.Summary();
}

TEST(SnapshotReporterTest, EachTableBeingReadHasItsOwnLine) {
  SnapshotReporter reporter("per-table test", 3000, 3);
  reporter.SetTableEstimate("public.a", 1000);
  reporter.SetTableEstimate("public.b", 2000);
  reporter.SetTableEstimate("public.c", 10);
  reporter.AddTableRows("public.a", 250);
  reporter.AddTableRows("public.c", 10);
  reporter.TableDone("public.c");
  auto lines = reporter.TableLines();
  ASSERT_EQ(lines.size(), 1u) << "b has not started, c is done";
  EXPECT_NE(lines[0].find("public.a: 250 of ~1000 rows (25%)"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("rows/s, ETA"), std::string::npos) << lines[0];
  EXPECT_NE(reporter.Summary().find("260 of ~3000 rows, 1 of 3 tables done"), std::string::npos)
      << reporter.Summary();
}

}  // namespace
}  // namespace ferry::capture
