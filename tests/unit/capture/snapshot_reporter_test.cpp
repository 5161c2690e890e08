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

}  // namespace
}  // namespace ferry::capture
