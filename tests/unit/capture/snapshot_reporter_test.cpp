// SnapshotReporter: the progress it logs is also on the metrics endpoint, and
// on a terminal it is a block rewritten in place under the log.
#include "capture/snapshot_reporter.h"

#include <gtest/gtest.h>

#include "common/ferry_metrics.h"
#include "common/status_block_sink.h"

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

// Incremental snapshots learn their tables one by one, may read one again
// after it is done, and may be cancelled part way.
TEST(SnapshotReporterTest, TablesAddedOneByOneGetALineAndACancelledOneLeavesTheTotal) {
  SnapshotReporter reporter("incremental test", 0, 0);
  reporter.AddTable("public.a", 100);
  reporter.AddTableRows("public.a", 100);
  reporter.TableDone("public.a");
  reporter.AddTable("public.b", 1000);
  reporter.AddTableRows("public.b", 250);
  auto lines = reporter.TableLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("public.b: 250 of ~1000 rows (25%)"), std::string::npos) << lines[0];
  EXPECT_NE(reporter.Summary().find("350 of ~1100 rows, 1 of 2 tables done"), std::string::npos)
      << reporter.Summary();

  reporter.ForgetTable("public.b");  // cancelled
  EXPECT_TRUE(reporter.TableLines().empty());
  EXPECT_NE(reporter.Summary().find("350 of ~350 rows, 1 of 1 tables done"), std::string::npos)
      << reporter.Summary();

  reporter.AddTable("public.a", 100);  // read again: a fresh line
  reporter.AddTableRows("public.a", 40);
  lines = reporter.TableLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("public.a: 40 of ~100 rows (40%)"), std::string::npos) << lines[0];
}

// A terminal for the reporter: every byte written, 80 columns, a clock the test moves.
struct FakeTerminal {
  std::string out;
  SnapshotReporter::Clock::time_point now = SnapshotReporter::Clock::time_point(std::chrono::hours(1));
  std::shared_ptr<StatusBlockSink> sink = std::make_shared<StatusBlockSink>(
      [this](std::string_view bytes) { out.append(bytes); }, [] { return 80; });
  spdlog::logger log{"terminal test", sink};
  ReporterDisplay Display() { return {sink.get(), std::chrono::milliseconds(500), [this] { return now; }}; }
  std::string Take() { return std::exchange(out, ""); }
};

TEST(SnapshotReporterTest, OnATerminalTheBlockIsRewrittenInPlaceAndLogLinesGoAboveIt) {
  using std::chrono::milliseconds;
  FakeTerminal term;
  term.log.set_pattern("%^%l%$ %v");
  {
    SnapshotReporter reporter("initial snapshot", 3000, 2, std::chrono::seconds(5), term.Display());
    reporter.SetTableEstimate("public.a", 1000);
    reporter.SetTableEstimate("public.b", 2000);
    reporter.AddTableRows("public.a", 100);
    reporter.AddTableRows("public.b", 200);
    term.now += std::chrono::seconds(1);
    reporter.MaybeLog();
    // Drawn at once, nothing to erase yet: a summary and one line per table.
    EXPECT_EQ(term.Take(),
              "initial snapshot: 300 of ~3000 rows, 0 of 2 tables done, 300 rows/s, ETA 9 s\n"
              "  public.a: 100 of ~1000 rows (10%), 100 rows/s, ETA 9 s\n"
              "  public.b: 200 of ~2000 rows (10%), 200 rows/s, ETA 9 s\n");

    reporter.AddTableRows("public.a", 900);
    reporter.TableDone("public.a");
    term.now += milliseconds(200);
    reporter.MaybeLog();
    EXPECT_EQ(term.Take(), "") << "at most 2 redraws a second";

    term.now += milliseconds(300);
    reporter.MaybeLog();
    // Cursor up over the 3 rows drawn, clear to the end of the screen, the new block.
    EXPECT_EQ(term.Take(),
              "\r\x1b[3A\x1b[J"
              "initial snapshot: 1200 of ~3000 rows, 1 of 2 tables done, 800 rows/s, ETA 2 s\n"
              "  public.b: 200 of ~2000 rows (10%), 133 rows/s, ETA 13 s\n");

    // A log line erases the block, is written whole, and the block comes back under it.
    term.log.warn("slot lag {}", 42);
    EXPECT_EQ(term.Take(),
              "\r\x1b[2A\x1b[J"
              "\x1b[33m\x1b[1mwarning\x1b[m slot lag 42\n"
              "initial snapshot: 1200 of ~3000 rows, 1 of 2 tables done, 800 rows/s, ETA 2 s\n"
              "  public.b: 200 of ~2000 rows (10%), 133 rows/s, ETA 13 s\n");

    // Lines wider than the terminal are cut, so none wraps and the count holds.
    reporter.SetTableEstimate(std::string(100, 'x'), 10);
    reporter.AddTableRows(std::string(100, 'x'), 1);
    term.now += milliseconds(500);
    reporter.MaybeLog();
    std::string cut = term.Take();
    EXPECT_NE(cut.find("\n  " + std::string(77, 'x') + "\n"), std::string::npos) << cut;

    // Every table done: the block goes; nothing is left to rewrite.
    reporter.AddTableRows("public.b", 1800);
    reporter.TableDone("public.b");
    reporter.TableDone(std::string(100, 'x'));
    reporter.MaybeLog();
    EXPECT_EQ(term.Take(), "\r\x1b[3A\x1b[J");
    term.log.info("streaming");
    EXPECT_EQ(term.Take(), "\x1b[32minfo\x1b[m streaming\n");
  }
  EXPECT_EQ(term.Take(), "") << "a reporter whose block is gone leaves nothing behind";
}

// Cut short (capture stopped mid-copy): the block is erased and its last state logged.
TEST(SnapshotReporterTest, OnATerminalAReporterThatGoesLeavesItsLastStateInTheLog) {
  FakeTerminal term;
  term.log.set_pattern("%v");
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::shared_ptr<spdlog::logger>(&term.log, [](spdlog::logger*) {}));
  {
    SnapshotReporter reporter("initial snapshot", 1000, 1, std::chrono::seconds(5), term.Display());
    reporter.AddTableRows("public.a", 10);
    term.now += std::chrono::seconds(1);
    reporter.MaybeLog();
    term.Take();
  }
  spdlog::set_default_logger(previous);
  EXPECT_EQ(term.Take(),
            "\r\x1b[2A\x1b[J"
            "initial snapshot: 10 of ~1000 rows, 0 of 1 tables done, 10 rows/s, ETA 99 s\n"
            "  public.a: 10 of ~10 rows (100%), 10 rows/s, ETA 0 s\n");
}

// Not a terminal: the plain log lines of before, every interval.
TEST(SnapshotReporterTest, WithoutATerminalProgressIsLogLinesEveryInterval) {
  FakeTerminal term;
  term.log.set_pattern("%v");
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::shared_ptr<spdlog::logger>(&term.log, [](spdlog::logger*) {}));
  ReporterDisplay lines = term.Display();
  lines.block = nullptr;
  SnapshotReporter reporter("initial snapshot", 1000, 1, std::chrono::seconds(5), lines);
  reporter.SetTableEstimate("public.a", 1000);
  reporter.AddTableRows("public.a", 10);
  term.now += std::chrono::seconds(1);
  reporter.MaybeLog();
  EXPECT_EQ(term.Take(), "") << "before the interval";
  term.now += std::chrono::seconds(4);
  reporter.MaybeLog();
  spdlog::set_default_logger(previous);
  EXPECT_EQ(term.Take(),
            "initial snapshot: 10 of ~1000 rows, 0 of 1 tables done, 2 rows/s, ETA 495 s\n"
            "  public.a: 10 of ~1000 rows (1%), 2 rows/s, ETA 495 s\n");
}

}  // namespace
}  // namespace ferry::capture
