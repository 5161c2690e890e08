// Snapshots end to end: the initial copy of a source that already holds data,
// its resumption after kill -9, and incremental snapshots while streaming.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "capture/snapshot_progress.h"
#include "checkpoint/position_store.h"
#include "tests/e2e/workload.h"
#include "tests/support/ferry_command.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

bool WaitSql(const PgCluster& c, const std::string& sql, const std::string& want, seconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (c.Sql(sql) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// The snapshot progress capture stored for slot "ferry" (capture must not run).
std::map<std::string, capture::TableProgress> StoredProgress(const Pipeline& pl, std::string* initial) {
  auto store = checkpoint::RocksPositionStore::Open(pl.dir() + "/state/capture");
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return {};
  capture::SnapshotProgress progress(**store, "ferry");
  auto state = progress.InitialState();
  if (initial != nullptr && state.ok() && *state) *initial = **state;
  auto tables = progress.Tables();
  EXPECT_TRUE(tables.ok()) << tables.status().ToString();
  return tables.ok() ? *tables : std::map<std::string, capture::TableProgress>();
}

// Lines of a cluster's server log (scripts/pg-cluster.sh writes it to <dir>/server.log).
std::vector<std::string> ServerLog(const PgCluster& c) {
  std::ifstream in(c.dir() + "/server.log");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

size_t ServerLogLines(const PgCluster& c) { return ServerLog(c).size(); }

// The server log's lines after the first `mark` that contain `text`.
std::vector<std::string> ServerLogLinesAfter(const PgCluster& c, size_t mark, const std::string& text) {
  std::vector<std::string> all = ServerLog(c), found;
  for (size_t i = mark; i < all.size(); ++i) {
    if (all[i].find(text) != std::string::npos) found.push_back(all[i]);
  }
  return found;
}

class SnapshotTest : public WorkloadPipelineTest {
 protected:
  void StartClusters(const std::string& name) {
    auto p = Pipeline::Start(name);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    pl_ = std::move(p).value();
  }
  std::string Logs() {
    return "\ncapture log:\n" + pl_->capture().LogTail() + "\napply log:\n" + pl_->apply().LogTail();
  }
  void CopySeededTablesUnderWrites(const std::string& events);
  // `ferry lag` for the pipeline's slot, group and topic prefix, with `extra` flags.
  FerryRun Lag(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"lag", "--source", pl_->source().conninfo(), "--slot", "ferry", "--brokers",
                                  pl_->brokers(), "--group", "ferry-apply", "--topic-prefix", "ferry"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunFerry(args, pl_->dir() + "/lag.log");
  }
  // Lag() until its output lacks `text` (capture's status record is written
  // asynchronously), for at most 10 s; the last run.
  FerryRun LagWithout(const std::string& text) {
    FerryRun lag = Lag();
    for (auto deadline = Clock::now() + seconds(10);
         lag.out.find(text) != std::string::npos && Clock::now() < deadline;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      lag = Lag();
    }
    return lag;
  }
};

// The initial copy of seeded tables while a workload writes, capture started
// with `events` (--snapshot-events).
void SnapshotTest::CopySeededTablesUnderWrites(const std::string& events) {
  ASSERT_NO_FATAL_FAILURE(StartClusters("snap-initial-" + events));
  pl_->CreateOnBoth(kWorkloadSchema);
  PgCluster& src = pl_->source();
  // 200,000 rows over three tables, there before capture ever runs.
  src.Sql("INSERT INTO events SELECT g, repeat('e', g % 40), now() FROM generate_series(1, 120000) g");
  src.Sql("INSERT INTO accounts SELECT g, 'n' || g, g * 1.5, now(), jsonb_build_object('g', g), '\\x00ff', "
          "ARRAY['t', NULL] FROM generate_series(1, 50000) g");
  src.Sql("INSERT INTO order_items SELECT o, l, 'sku-' || o, l FROM generate_series(1, 3000) o, "
          "generate_series(1, 10) l");
  // A keyless REPLICA IDENTITY FULL table, duplicates included: read whole,
  // through a cursor, in chunks.
  pl_->CreateOnBoth("CREATE TABLE keyless (a int, b text); ALTER TABLE keyless REPLICA IDENTITY FULL;");
  src.Sql("INSERT INTO keyless SELECT g % 7000, 'k' FROM generate_series(1, 12000) g");
  ASSERT_TRUE(pl_->StartApply());
  ASSERT_TRUE(pl_->StartCapture({"--snapshot-chunk-rows", "5000", "--snapshot-workers", "3", "--snapshot-events",
                                 events}));
  // Writes start as soon as the slot (and its snapshot) exists, while the copy runs.
  ASSERT_TRUE(WaitSql(src, "SELECT count(*) FROM pg_replication_slots", "1", seconds(30))) << Logs();
  Workload w(src);
  w.Start();
  ASSERT_TRUE(WaitLog(pl_->capture(), "4 of 4 tables done", seconds(120))) << Logs();
  int64_t during_copy = w.transactions();
  std::this_thread::sleep_for(seconds(1));
  w.Stop();
  ASSERT_EQ(w.error(), "");
  EXPECT_GT(during_copy, 0) << "the workload should have written while the copy ran";
  ExpectConverged(seconds(180));
  EXPECT_TRUE(pl_->WaitConverged("keyless", "a, b", seconds(30))) << pl_->Diff("keyless", "a, b");
  EXPECT_EQ(pl_->target().Sql("SELECT count(*) FROM keyless"), "12000");
  EXPECT_TRUE(WaitLog(pl_->capture(), "streaming slot", seconds(30))) << "the stream follows the copy";
}

TEST_F(SnapshotTest, InitialSnapshotOfSeededTablesUnderConcurrentWritesMatchesSource) {
  CopySeededTablesUnderWrites("batch");
}

// One READ event per row, for other consumers of the topic: apply takes them too.
TEST_F(SnapshotTest, InitialSnapshotWithOneEventPerRowMatchesSourceToo) { CopySeededTablesUnderWrites("row"); }

TEST_F(SnapshotTest, KillNineMidSnapshotResumesAfterTheLastAcknowledgedChunk) {
  ASSERT_NO_FATAL_FAILURE(StartClusters("snap-resume"));
  pl_->CreateOnBoth("CREATE TABLE big (id bigint PRIMARY KEY, v text)");
  PgCluster& src = pl_->source();
  // ~20 MB of events: more than flow control lets through unapplied, less than
  // the dev broker keeps (8 partitions x 5 MiB), so nothing is evicted before apply runs.
  src.Sql("INSERT INTO big SELECT g, repeat('v', 250) || g FROM generate_series(1, 60000) g");
  // No apply yet, and a small flow-control bound: the copy stops after some
  // chunks, waiting for apply, and is killed there.
  ASSERT_TRUE(pl_->StartCapture({"--snapshot-chunk-rows", "1000", "--snapshot-workers", "1",
                                 "--flow-control-max-bytes", "65536"}));
  ASSERT_TRUE(WaitLog(pl_->capture(), "flow control: pausing", seconds(60))) << Logs();
  // Paused, capture keeps recording acknowledged chunks: give it a moment.
  std::this_thread::sleep_for(seconds(2));
  pl_->capture().Kill();

  std::string initial;
  auto before = StoredProgress(*pl_, &initial);
  ASSERT_EQ(initial, "running") << ReadLog(pl_->capture());
  ASSERT_TRUE(before.contains("public.big"));
  const capture::TableProgress killed = before["public.big"];
  ASSERT_FALSE(killed.done);
  ASSERT_GT(killed.chunks, 0) << "chunks acknowledged before the kill are recorded";
  ASSERT_TRUE(killed.last_key.has_value());
  // Chunks are cut to flow control's 64 KiB here, so they hold fewer than 1000 rows.
  EXPECT_LE(killed.rows, killed.chunks * 1000);
  EXPECT_EQ(*killed.last_key, capture::KeyValues{std::to_string(killed.rows)});

  // Changes while capture is down, in the copied range and beyond it.
  src.Sql("UPDATE big SET v = 'changed' WHERE id % 997 = 0");
  src.Sql("DELETE FROM big WHERE id % 1009 = 0");
  src.Sql("INSERT INTO big SELECT g, 'new' FROM generate_series(60001, 60500) g");
  ASSERT_TRUE(pl_->StartApply());
  ASSERT_TRUE(pl_->StartCapture({"--snapshot-chunk-rows", "1000"}));
  EXPECT_TRUE(WaitLog(pl_->capture(), "snapshot of public.big resumes after its last acknowledged chunk (" +
                                          std::to_string(killed.rows) + " rows in",
                      seconds(30)))
      << Logs();
  ASSERT_TRUE(WaitLog(pl_->capture(), "incremental snapshot of public.big read", seconds(120))) << Logs();
  EXPECT_TRUE(pl_->WaitConverged("big", "id", seconds(120))) << pl_->Diff("big", "id") << Logs();

  // Through the checkpoint: the rows before the kill were not read again.
  pl_->capture().Signal(SIGTERM);
  ASSERT_EQ(pl_->capture().Wait(std::chrono::milliseconds(30000)), 0) << Logs();
  auto after = StoredProgress(*pl_, &initial)["public.big"];
  EXPECT_TRUE(after.done);
  // Rows counted: those read before the kill (some deleted since) and those read
  // after it, never more than ever existed (60,500); from the start would be ~60,000 more.
  EXPECT_LE(after.rows, 60500) << "resumed from the start, not from the last chunk";
  EXPECT_GT(after.chunks, killed.chunks);
  EXPECT_LE(after.chunks, killed.chunks + (60500 - killed.rows) / 1000 + 1);
}

// --snapshot-workers means workers: one big table is read by all of them, in
// key ranges, and each range resumes from its own last acknowledged key.
TEST_F(SnapshotTest, OneBigTableIsReadByEveryWorkerAndEachRangeResumes) {
  ASSERT_NO_FATAL_FAILURE(StartClusters("snap-parts"));
  pl_->CreateOnBoth("CREATE TABLE wide (id bigint PRIMARY KEY, v text)");
  PgCluster& src = pl_->source();
  src.Sql("INSERT INTO wide SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, 30000) g");
  src.Sql("ANALYZE wide");
  // No apply yet: flow control stops the copy while every worker waits with a
  // chunk in hand (the queue holds 1 MiB, the table ~30 MB).
  ASSERT_TRUE(pl_->StartCapture({"--snapshot-chunk-rows", "500", "--snapshot-workers", "3",
                                 "--snapshot-buffer-bytes", "1048576", "--flow-control-max-bytes", "65536"}));
  EXPECT_TRUE(WaitSql(src,
                      "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ferry-snapshot' "
                      "AND query LIKE '%\"public\".\"wide\"%'",
                      "3", seconds(60)))
      << "workers reading public.wide: "
      << src.Sql("SELECT string_agg(state || ': ' || left(query, 80), '; ') FROM pg_stat_activity "
                 "WHERE application_name = 'ferry-snapshot'")
      << Logs();
  std::this_thread::sleep_for(seconds(2));
  pl_->capture().Kill();
  auto parts = StoredProgress(*pl_, nullptr);
  EXPECT_GE(parts.size(), 3u) << "the table was planned in key ranges";
  src.Sql("UPDATE wide SET v = 'changed' WHERE id % 101 = 0");
  src.Sql("DELETE FROM wide WHERE id % 103 = 0");
  ASSERT_TRUE(pl_->StartApply());
  ASSERT_TRUE(pl_->StartCapture({"--snapshot-chunk-rows", "500", "--snapshot-workers", "3"}));
  EXPECT_TRUE(pl_->WaitConverged("wide", "id", seconds(180))) << pl_->Diff("wide", "id").substr(0, 300) << Logs();
}

// Several workers read one table in key ranges, and its rows still reach the
// target in key order, as from one COPY: its primary key is as compact as the
// source's. Rows of several ranges at once would make the target split B-tree
// pages in the middle (about 1.5 times the pages, and more of its CPU).
TEST_F(SnapshotTest, RowsReadByEveryWorkerReachTheTargetInKeyOrder) {
  ASSERT_NO_FATAL_FAILURE(StartClusters("snap-order"));
  pl_->CreateOnBoth("CREATE TABLE ordered (id bigint PRIMARY KEY, v text)");
  PgCluster& src = pl_->source();
  src.Sql("INSERT INTO ordered SELECT g, md5(g::text) FROM generate_series(1, 120000) g");
  src.Sql("ANALYZE ordered");
  ASSERT_TRUE(pl_->StartApply());
  // Each backend capture opens costs the source tens of ms of CPU before the
  // first row is copied: capture opens one per worker, one to prepare the
  // source, one for the copy's catalog queries and planning, and the
  // replication connection that creates the slot (and identifies the source).
  src.Sql("ALTER SYSTEM SET log_connections = on");
  src.Sql("SELECT pg_reload_conf()");
  ASSERT_TRUE(WaitSql(src, "SHOW log_connections", "on", seconds(10)));
  const size_t log_mark = ServerLogLines(src);
  ASSERT_TRUE(pl_->StartCapture({"--snapshot", "only", "--snapshot-workers", "4", "--snapshot-chunk-rows", "1000"}));
  ASSERT_EQ(pl_->capture().Wait(std::chrono::milliseconds(180000)), 0) << Logs();
  const std::vector<std::string> connections = ServerLogLinesAfter(src, log_mark, "connection authorized");
  std::string listed;
  for (const auto& line : connections) listed += "\n" + line;
  EXPECT_EQ(connections.size(), 7u) << "capture's connections to the source:" << listed;
  ASSERT_TRUE(pl_->WaitConverged("ordered", "id", seconds(180))) << pl_->Diff("ordered", "id").substr(0, 300) << Logs();
  EXPECT_GE(StoredProgress(*pl_, nullptr).size(), 4u) << "the table was read in several parts";
  const std::string pages = "SELECT pg_relation_size('ordered_pkey') / 8192";
  const int64_t source_pages = std::stoll(src.Sql(pages));
  const int64_t target_pages = std::stoll(pl_->target().Sql(pages));
  EXPECT_LE(target_pages * 10, source_pages * 11)
      << "target primary key " << target_pages << " pages, source's " << source_pages;
}

// Peak resident memory of a process, from /proc (VmHWM), in bytes; -1 if unknown.
int64_t PeakRssBytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

// Capture's memory is bounded in bytes, not rows: 10,000-row chunks of 4 kB rows
// would be 40 MB each, and several wait at a time. Capture alone (no apply,
// flow control off: the dev broker keeps only the last ~5 MiB, which does not
// matter here), so nothing but the byte bound holds the copy back.
TEST_F(SnapshotTest, WideRowsKeepCaptureMemoryUnderItsByteBound) {
  ASSERT_NO_FATAL_FAILURE(StartClusters("snap-wide"));
  pl_->CreateOnBoth("CREATE TABLE blobs (id int PRIMARY KEY, doc text)");
  PgCluster& src = pl_->source();
  // Incompressible 4 kB values (TOASTed on the source, whole in capture's memory).
  src.Sql("INSERT INTO blobs SELECT g, (SELECT string_agg(md5(g::text || i), '') FROM generate_series(1, 128) i) "
          "FROM generate_series(1, 24000) g");
  src.Sql("ANALYZE blobs");
  ASSERT_TRUE(pl_->StartCapture({"--snapshot", "only", "--snapshot-workers", "2", "--flow-control", "off",
                                 "--snapshot-buffer-bytes", "16777216"}));
  int64_t peak = 0;
  while (pl_->capture().running()) {
    peak = std::max(peak, PeakRssBytes(pl_->capture().pid()));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(pl_->capture().Wait(std::chrono::milliseconds(1000)), 0) << Logs();
  EXPECT_GT(peak, 0);
  RecordProperty("capture_peak_rss_mib", std::to_string(peak >> 20));
  // The process itself (librdkafka, RocksDB) and 16 MiB of rows queued plus the
  // chunks in hand (16 MiB / 6 each), with room for the allocator.
  EXPECT_LT(peak, int64_t{150} << 20) << "capture's peak RSS";
  auto done = StoredProgress(*pl_, nullptr)["public.blobs"];
  EXPECT_TRUE(done.done);
  EXPECT_EQ(done.rows, 24000);
  EXPECT_GT(done.chunks, 24000 / 4000) << "chunks were cut by bytes";
}

// Kill -9 of capture mid-copy, twice, then an immediate stop of the source
// mid-copy, with writes all along and a keyless table among keyed ones: no
// human step, the target ends equal to the source, no row doubled. The keyless
// table cannot resume by key: it is copied again at a new consistent point,
// its partial copy truncated on the target first (snapshot_recopy.h).
TEST_F(SnapshotTest, KillNineTwiceAndSourceCrashMidCopyNeedNoHumanAndDoubleNoRow) {
  ASSERT_NO_FATAL_FAILURE(StartClusters("snap-crash"));
  pl_->CreateOnBoth(kWorkloadSchema);
  pl_->CreateOnBoth("CREATE TABLE heap_nopk (a int, b text); ALTER TABLE heap_nopk REPLICA IDENTITY FULL;");
  // Copied again too (REPLICA IDENTITY FULL), and referenced by a foreign key:
  // the target must clear its partial copy without TRUNCATE, which refuses.
  pl_->CreateOnBoth("CREATE TABLE full_ref (id int PRIMARY KEY, v text); ALTER TABLE full_ref REPLICA IDENTITY FULL;"
                    "CREATE TABLE full_kid (id int PRIMARY KEY, ref int REFERENCES full_ref)");
  PgCluster& src = pl_->source();
  src.Sql("INSERT INTO full_ref SELECT g, 'r' || g FROM generate_series(1, 20000) g;"
          "INSERT INTO full_kid SELECT g, g * 7 FROM generate_series(1, 2000) g");
  src.Sql("INSERT INTO events SELECT g, repeat('e', g % 40), now() FROM generate_series(1, 400000) g");
  src.Sql("INSERT INTO accounts (id, name, balance) SELECT g, 'n' || g, g FROM generate_series(1, 70000) g");
  src.Sql("INSERT INTO heap_nopk SELECT g, 'k' || g FROM generate_series(1, 20000) g");
  src.Sql("ANALYZE");
  // 1. No apply yet and a small flow-control bound: the copy stops after some
  // chunks of each table, and capture is killed there.
  ASSERT_TRUE(pl_->StartCapture({"--snapshot-chunk-rows", "500", "--snapshot-workers", "3",
                                 "--flow-control-max-bytes", "262144"}));
  ASSERT_TRUE(WaitSql(src, "SELECT count(*) FROM pg_replication_slots", "1", seconds(30))) << Logs();
  Workload w(src, /*tolerate_outage=*/true);
  w.Start();
  ASSERT_TRUE(WaitLog(pl_->capture(), "flow control: pausing", seconds(60))) << Logs();
  std::this_thread::sleep_for(seconds(2));
  pl_->capture().Kill();
  auto killed = StoredProgress(*pl_, nullptr);
  ASSERT_TRUE(killed.contains("public.heap_nopk")) << ReadLog(pl_->capture());
  ASSERT_FALSE(killed["public.heap_nopk"].done) << "the kill must land mid-copy of the keyless table";
  ASSERT_FALSE(killed["public.events"].done);
  ASSERT_FALSE(killed["public.full_ref"].done);
  src.Sql("UPDATE heap_nopk SET b = b || '!' WHERE a % 97 = 0");
  src.Sql("DELETE FROM heap_nopk WHERE a % 89 = 0");
  src.Sql("INSERT INTO heap_nopk SELECT g, 'late' || g FROM generate_series(20001, 20500) g");

  // 2. Apply runs; capture goes on by itself, and is killed again mid-copy.
  ASSERT_TRUE(pl_->StartApply());
  ASSERT_TRUE(pl_->StartCapture({"--snapshot-chunk-rows", "1000"}));
  ASSERT_TRUE(WaitLog(pl_->capture(), "public.heap_nopk was lost with its exported snapshot", seconds(60)))
      << Logs();
  ASSERT_TRUE(WaitSql(pl_->target(), "SELECT count(*) > 0 FROM heap_nopk", "t", seconds(60))) << Logs();
  pl_->capture().Kill();
  src.Sql("UPDATE heap_nopk SET b = b || '?' WHERE a % 83 = 0");
  src.Sql("UPDATE full_ref SET v = v || '?' WHERE id % 83 = 0");

  // 3. Capture again; the source stops at once (crash) while the keyed copy runs.
  ASSERT_TRUE(pl_->StartCapture({"--snapshot-chunk-rows", "1000"}));
  ASSERT_TRUE(WaitLog(pl_->capture(), "public.heap_nopk copied again at", seconds(120))) << Logs();
  EXPECT_EQ(ReadLog(pl_->capture()).find("incremental snapshot of public.events read"), std::string::npos)
      << "the source should stop while the copy of public.events still runs";
  ASSERT_TRUE(src.Stop("immediate").ok());
  std::this_thread::sleep_for(seconds(2));
  ASSERT_TRUE(src.Restart().ok());
  src.Sql("INSERT INTO heap_nopk SELECT g, 'after' FROM generate_series(30001, 30100) g");
  std::this_thread::sleep_for(seconds(2));
  w.Stop();
  ASSERT_EQ(w.error(), "");
  ExpectConverged(seconds(400));
  EXPECT_TRUE(pl_->WaitConverged("heap_nopk", "a, b", seconds(60))) << pl_->Diff("heap_nopk", "a, b") << Logs();
  EXPECT_EQ(pl_->target().Sql("SELECT count(*) - count(DISTINCT (a, b)) FROM heap_nopk"), "0") << "doubled rows";
  EXPECT_EQ(pl_->target().Sql("SELECT count(*) FROM heap_nopk"), src.Sql("SELECT count(*) FROM heap_nopk"));
  EXPECT_TRUE(pl_->WaitConverged("full_ref", "id", seconds(60))) << pl_->Diff("full_ref", "id") << Logs();
  EXPECT_TRUE(pl_->WaitConverged("full_kid", "id", seconds(60))) << pl_->Diff("full_kid", "id") << Logs();
  EXPECT_TRUE(pl_->capture().running()) << Logs();
}

// `ferry lag` shows the initial copy's progress from outside: capture puts it
// in its status record (transport/capture_status.h).
TEST_F(SnapshotTest, LagShowsTheInitialCopysProgressPerTable) {
  ASSERT_NO_FATAL_FAILURE(StartClusters("snap-lag"));
  pl_->CreateOnBoth("CREATE TABLE big (id bigint PRIMARY KEY, v text)");
  PgCluster& src = pl_->source();
  src.Sql("INSERT INTO big SELECT g, repeat('v', 250) FROM generate_series(1, 60000) g");
  src.Sql("ANALYZE big");
  // No apply: flow control holds the copy part way.
  ASSERT_TRUE(pl_->StartCapture({"--snapshot-chunk-rows", "1000", "--flow-control-max-bytes", "65536"}));
  ASSERT_TRUE(WaitLog(pl_->capture(), "flow control: pausing", seconds(60))) << Logs();
  FerryRun lag;
  for (auto deadline = Clock::now() + seconds(30); Clock::now() < deadline;) {
    lag = Lag();
    if (lag.out.find("public.big: ") != std::string::npos) break;
    std::this_thread::sleep_for(seconds(1));
  }
  EXPECT_NE(lag.out.find("SNAPSHOT"), std::string::npos) << lag.out;
  EXPECT_NE(lag.out.find("initial snapshot: "), std::string::npos) << lag.out;
  EXPECT_NE(lag.out.find("of ~60000 rows ("), std::string::npos) << lag.out;
  EXPECT_NE(lag.out.find("rows/s, ETA"), std::string::npos) << lag.out;
}

// A keyless table whose copy a kill -9 cut short is copied again inside the
// stream, which waits meanwhile: `ferry lag` shows that copy's progress as it
// shows the initial copy's, and the target ends equal.
TEST_F(SnapshotTest, LagShowsTheCopyAgainOfAKeylessTable) {
  ASSERT_NO_FATAL_FAILURE(StartClusters("snap-lag-recopy"));
  pl_->CreateOnBoth("CREATE TABLE heap (v text); ALTER TABLE heap REPLICA IDENTITY FULL");
  PgCluster& src = pl_->source();
  src.Sql("INSERT INTO heap SELECT repeat('v', 200) || g FROM generate_series(1, 20000) g");
  src.Sql("ANALYZE heap");
  // No apply: flow control holds the copy part way, then holds the copy again.
  const std::vector<std::string> flags{"--snapshot-chunk-rows", "500", "--flow-control-max-bytes", "65536"};
  ASSERT_TRUE(pl_->StartCapture(flags));
  ASSERT_TRUE(WaitLog(pl_->capture(), "flow control: pausing", seconds(60))) << Logs();
  pl_->capture().Kill();
  ASSERT_TRUE(pl_->StartCapture(flags));
  FerryRun lag;
  for (auto deadline = Clock::now() + seconds(60); Clock::now() < deadline;) {
    lag = Lag();
    if (lag.out.find("copy again: ") != std::string::npos) break;
    std::this_thread::sleep_for(seconds(1));
  }
  EXPECT_NE(lag.out.find("copy again: "), std::string::npos) << lag.out << Logs();
  EXPECT_NE(lag.out.find("of ~20000 rows"), std::string::npos) << lag.out;
  EXPECT_NE(lag.out.find("public.heap: "), std::string::npos) << lag.out;
  ASSERT_TRUE(pl_->StartApply());
  EXPECT_TRUE(WaitLog(pl_->capture(), "public.heap copied again", seconds(120))) << Logs();
  EXPECT_TRUE(WaitSql(pl_->target(), "SELECT count(*) FROM heap", "20000", seconds(120)))
      << pl_->target().Sql("SELECT count(*) || ' rows, ' || count(DISTINCT v) || ' distinct, g ' || "
                           "min(substr(v, 201)::int) || '..' || max(substr(v, 201)::int) FROM heap")
      << Logs();
  EXPECT_EQ(pl_->target().Sql("SELECT md5(string_agg(v, ',' ORDER BY v)) FROM heap"),
            src.Sql("SELECT md5(string_agg(v, ',' ORDER BY v)) FROM heap"));
  for (auto deadline = Clock::now() + seconds(30); Clock::now() < deadline;) {
    lag = Lag();
    if (lag.out.find("copy again") == std::string::npos) break;
    std::this_thread::sleep_for(seconds(1));
  }
  EXPECT_EQ(lag.out.find("copy again"), std::string::npos) << "gone once the copy is done: " << lag.out;
  // The copy travels as the initial copy does, a chunk's rows in a few events,
  // not one event (and Kafka message) per row.
  FerryRun json = Lag({"--json"});
  ASSERT_EQ(json.exit_code, 0) << json.out;
  int64_t events = 0;
  const nlohmann::json report = nlohmann::json::parse(json.out);
  for (const auto& p : report["kafka"]["partitions"]) {
    if (p["topic"] == "ferry.changes") events += p["log_end"].get<int64_t>();
  }
  EXPECT_GT(events, 0) << json.out;
  EXPECT_LT(events, 2000) << "events for 20,000 rows copied about once and a half";
}

// Against a Kafka where flow control is off (any real cluster, by default),
// `ferry lag` still shows the copy's progress while it runs, and nothing about
// it once it is done: capture writes its status whether flow control is on or
// off (capture/status_publisher.h).
TEST_F(SnapshotTest, LagShowsTheCopysProgressWithFlowControlOffAndNothingOnceItIsDone) {
  ASSERT_NO_FATAL_FAILURE(StartClusters("snap-lag-noflow"));
  pl_->CreateOnBoth("CREATE TABLE slow (id bigint PRIMARY KEY, v text)");
  PgCluster& src = pl_->source();
  src.Sql("INSERT INTO slow SELECT g, 'v' FROM generate_series(1, 60000) g");
  src.Sql("ANALYZE slow");
  // One row per chunk and one worker: a copy of several seconds.
  ASSERT_TRUE(pl_->StartCapture({"--flow-control", "off", "--snapshot-chunk-rows", "1", "--snapshot-workers", "1"}));
  FerryRun during;
  bool done = false;
  for (auto deadline = Clock::now() + seconds(60); Clock::now() < deadline && !done;) {
    during = Lag();
    if (during.out.find("public.slow: ") != std::string::npos) break;
    done = pl_->capture().LogTail().find("1 of 1 tables done") != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EXPECT_NE(during.out.find("SNAPSHOT (reported"), std::string::npos) << during.out << Logs();
  EXPECT_NE(during.out.find("initial snapshot: "), std::string::npos) << during.out;
  EXPECT_NE(during.out.find("of ~60000 rows, 0 of 1 tables done"), std::string::npos) << during.out;
  EXPECT_NE(during.out.find("public.slow: "), std::string::npos) << during.out;
  EXPECT_NE(during.out.find("rows/s, ETA"), std::string::npos) << during.out;
  EXPECT_EQ(during.out.find("PAUSED"), std::string::npos) << during.out;
  // The slot is not streamed during the copy: the line says so, not that
  // capture is gone.
  EXPECT_NE(during.out.find("(initial copy in progress, not streamed yet)"), std::string::npos) << during.out;
  EXPECT_EQ(during.out.find("INACTIVE"), std::string::npos) << during.out;

  ASSERT_TRUE(WaitLog(pl_->capture(), "60000 of ~60000 rows, 1 of 1 tables done", seconds(120))) << Logs();
  FerryRun after = Lag();
  EXPECT_EQ(after.out.find("SNAPSHOT"), std::string::npos) << after.out;
  EXPECT_EQ(after.out.find("initial snapshot"), std::string::npos) << after.out;
  EXPECT_NE(after.out.find("capture "), std::string::npos) << after.out;
}

TEST_F(SnapshotTest, IncrementalSnapshotUnderUpdatesNeverRevertsARow) {
  ASSERT_NO_FATAL_FAILURE(StartClusters("snap-incr"));
  pl_->CreateOnBoth("CREATE TABLE inc (id int PRIMARY KEY, v bigint NOT NULL, pad text);"
                    "CREATE TABLE docs (id int PRIMARY KEY, v bigint NOT NULL, doc text);"
                    "CREATE TABLE nokey (a int); ALTER TABLE nokey REPLICA IDENTITY FULL");
  PgCluster& src = pl_->source();
  PgCluster& dst = pl_->target();
  src.Sql("INSERT INTO inc SELECT g, 0, repeat('p', 50) FROM generate_series(1, 20000) g");
  // Out-of-line TOASTed docs: an update of v alone does not resend them.
  src.Sql("INSERT INTO docs SELECT g, 0, (SELECT string_agg(md5(random()::text || g || i), '') "
          "FROM generate_series(1, 100) i) FROM generate_series(1, 2000) g");
  // v only grows on the source; the target records any update that lowers it.
  dst.Sql(R"sql(
    CREATE TABLE reverts (id int, old_v bigint, new_v bigint);
    CREATE FUNCTION note_revert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.v < OLD.v THEN INSERT INTO reverts VALUES (NEW.id, OLD.v, NEW.v); END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER note_revert BEFORE UPDATE ON inc FOR EACH ROW EXECUTE FUNCTION note_revert();
  )sql");
  ASSERT_TRUE(pl_->StartApply());
  // Stream only: the target lacks the 20,000 rows until the incremental snapshot.
  // Each chunk's window is held open 150 ms, so updates land between its select
  // and its high watermark.
  setenv("FERRY_SNAPSHOT_WINDOW_DELAY_MS", "150", 1);
  ASSERT_TRUE(pl_->StartCapture({"--snapshot", "never", "--snapshot-chunk-rows", "1000"}));
  unsetenv("FERRY_SNAPSHOT_WINDOW_DELAY_MS");
  ASSERT_TRUE(pl_->WaitCaptureStreaming()) << Logs();

  std::atomic<bool> stop{false};
  std::atomic<int64_t> txs{0};
  std::string error;
  std::thread writer([&] {
    auto conn = src.Connect();
    for (int64_t i = 0; !stop && conn.ok(); ++i) {
      auto r = conn->Exec(
          "UPDATE inc SET v = v + 1 WHERE id IN (SELECT 1 + (random() * 19999)::int FROM generate_series(1, 20));"
          "UPDATE docs SET v = v + 1 WHERE id IN (SELECT 1 + (random() * 1999)::int FROM generate_series(1, 5));"
          "DELETE FROM inc WHERE id = 1 + (random() * 19999)::int;"
          "INSERT INTO inc VALUES (" + std::to_string(20001 + i) + ", 1, 'new')");
      if (!r.ok()) {
        error = r.status().ToString();
        return;
      }
      ++txs;
    }
  });

  ChildProcess cli;
  ASSERT_TRUE(cli.Start({FerryBinary(), "snapshot", "--source", src.conninfo(), "--slot", "ferry", "--publication",
                         "ferry", "--table", "public.nokey"},
                        pl_->dir() + "/snapshot-cli.log"));
  EXPECT_EQ(cli.Wait(std::chrono::milliseconds(30000)), 2);
  EXPECT_NE(ReadLog(cli).find("public.nokey has no primary key"), std::string::npos) << ReadLog(cli);

  ChildProcess request;
  ASSERT_TRUE(request.Start({FerryBinary(), "snapshot", "--source", src.conninfo(), "--slot", "ferry",
                             "--publication", "ferry", "--table", "public.inc", "--table", "public.docs"},
                            pl_->dir() + "/snapshot-cli.log"));
  ASSERT_EQ(request.Wait(std::chrono::milliseconds(30000)), 0) << ReadLog(request);
  ASSERT_TRUE(WaitLog(pl_->capture(), "incremental snapshot of public.docs read", seconds(120))) << Logs();
  stop = true;
  writer.join();
  FerryRun lag = LagWithout("SNAPSHOT");
  EXPECT_EQ(lag.out.find("SNAPSHOT"), std::string::npos) << "a finished snapshot is not shown\n" << lag.out;
  ASSERT_EQ(error, "");
  EXPECT_GT(txs.load(), 20) << "updates should have run during the snapshot";
  EXPECT_TRUE(pl_->WaitConverged("inc", "id", seconds(120))) << pl_->Diff("inc", "id") << Logs();
  EXPECT_TRUE(pl_->WaitConverged("docs", "id", seconds(60))) << pl_->Diff("docs", "id").substr(0, 300) << Logs();
  EXPECT_EQ(dst.Sql("SELECT count(*) FROM reverts"), "0")
      << "rows reverted to an older value: " << dst.Sql("SELECT string_agg(id || ':' || old_v || '->' || new_v, ' ') "
                                                        "FROM (SELECT * FROM reverts LIMIT 10) r");
}

TEST_F(SnapshotTest, CancelStopsAnIncrementalSnapshotAndForgetsIt) {
  ASSERT_NO_FATAL_FAILURE(StartClusters("snap-cancel"));
  pl_->CreateOnBoth("CREATE TABLE c (id int PRIMARY KEY, v text)");
  PgCluster& src = pl_->source();
  src.Sql("INSERT INTO c SELECT g, 'v' FROM generate_series(1, 20000) g");
  src.Sql("ANALYZE c");
  ASSERT_TRUE(pl_->StartApply());
  setenv("FERRY_SNAPSHOT_WINDOW_DELAY_MS", "300", 1);  // >= 6 s for the 20 chunks
  ASSERT_TRUE(pl_->StartCapture({"--snapshot", "never", "--snapshot-chunk-rows", "1000"}));
  unsetenv("FERRY_SNAPSHOT_WINDOW_DELAY_MS");
  ASSERT_TRUE(pl_->WaitCaptureStreaming()) << Logs();
  auto run = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> argv{FerryBinary(), "snapshot", "--source", src.conninfo(), "--table", "public.c"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ChildProcess p;
    if (!p.Start(argv, pl_->dir() + "/snapshot-cli.log")) return -1;
    return p.Wait(std::chrono::milliseconds(30000));
  };
  ASSERT_EQ(run({}), 0);
  ASSERT_TRUE(WaitSql(pl_->target(), "SELECT count(*) > 0 FROM c", "t", seconds(60))) << Logs();
  // `ferry lag` shows the running snapshot (issue 10), as the initial copy's.
  FerryRun during = Lag();
  EXPECT_NE(during.out.find("SNAPSHOT (reported"), std::string::npos) << during.out << Logs();
  EXPECT_NE(during.out.find("incremental snapshot: "), std::string::npos) << during.out;
  EXPECT_NE(during.out.find("public.c: "), std::string::npos) << during.out;
  EXPECT_NE(during.out.find(" of ~20000 rows ("), std::string::npos) << during.out;
  EXPECT_NE(during.out.find("rows/s, ETA"), std::string::npos) << during.out;
  EXPECT_EQ(during.out.find("INACTIVE"), std::string::npos) << during.out;
  ASSERT_EQ(run({"--cancel"}), 0);
  ASSERT_TRUE(WaitLog(pl_->capture(), "incremental snapshot of public.c cancelled after", seconds(30))) << Logs();
  FerryRun after = LagWithout("SNAPSHOT");
  EXPECT_EQ(after.out.find("SNAPSHOT"), std::string::npos) << "a cancelled snapshot is not shown\n" << after.out;
  pl_->capture().Signal(SIGTERM);
  ASSERT_EQ(pl_->capture().Wait(std::chrono::milliseconds(30000)), 0) << Logs();
  EXPECT_FALSE(StoredProgress(*pl_, nullptr).contains("public.c")) << "a cancelled snapshot is not resumed";
  EXPECT_EQ(ReadLog(pl_->capture()).find("incremental snapshot of public.c read"), std::string::npos);
  EXPECT_LT(std::stoi(pl_->target().Sql("SELECT count(*) FROM c")), 20000);
}

}  // namespace
}  // namespace ferry::testing
