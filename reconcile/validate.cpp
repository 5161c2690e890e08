#include "reconcile/validate.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <set>

#include "common/signals.h"

namespace ferry::reconcile {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kFirstRecheckDelay{100};
constexpr milliseconds kMaxRecheckDelay{2000};

struct Sessions {
  PgConn source;
  PgConn target;
};

// A table under validation: what is compared and what was found.
struct TableRun {
  ValidatedTable table;
  TableReport report;
};

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Result<PgConn> OpenSession(const std::string& conninfo) {
  FERRY_ASSIGN_OR_RETURN(PgConn conn, PgConn::Connect(conninfo));
  FERRY_RETURN_IF_ERROR(PrepareValidateSession(conn));
  return conn;
}

// All chunk digests of one side, from one snapshot.
Result<std::vector<ChunkDigest>> HashAll(const PgConn& conn, const ValidatedTable& t,
                                         const std::vector<KeyRange>& ranges) {
  FERRY_RETURN_IF_ERROR(conn.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").status());
  std::vector<ChunkDigest> out;
  for (const auto& r : ranges) {
    auto d = HashChunk(conn, t, r);
    if (!d.ok()) {
      conn.Exec("ROLLBACK").status().PermitUncheckedError();
      return d.status();
    }
    out.push_back(*d);
  }
  FERRY_RETURN_IF_ERROR(conn.Exec("COMMIT").status());
  return out;
}

Result<std::vector<KeyRange>> ChunkRanges(const PgConn& source, const ValidatedTable& t,
                                          int64_t chunk_rows) {
  if (!t.HasKey()) return std::vector<KeyRange>{KeyRange{}};
  FERRY_ASSIGN_OR_RETURN(auto boundaries, SampleBoundaries(source, t, KeyRange{}, chunk_rows));
  return SplitRange(KeyRange{}, boundaries);
}

Result<Lsn> CurrentWalLsn(const PgConn& source) {
  FERRY_ASSIGN_OR_RETURN(std::string text, source.QueryScalar("SELECT pg_current_wal_lsn()"));
  return Lsn::Parse(text);
}

Status ScanTable(Sessions& s, const ValidateOptions& o, TableRun* run) {
  const ValidatedTable& t = run->table;
  TableReport& rep = run->report;
  FERRY_ASSIGN_OR_RETURN(auto ranges, ChunkRanges(s.source, t, o.chunk_rows));
  auto target_digests = std::async(std::launch::async, [&] { return HashAll(s.target, t, ranges); });
  auto src = HashAll(s.source, t, ranges);
  auto tgt = target_digests.get();
  FERRY_RETURN_IF_ERROR(src.status());
  FERRY_RETURN_IF_ERROR(tgt.status());
  rep.chunks = static_cast<int64_t>(ranges.size());
  NarrowOptions narrow{o.fetch_rows};
  for (size_t i = 0; i < ranges.size(); ++i) {
    rep.source_rows += (*src)[i].rows;
    rep.target_rows += (*tgt)[i].rows;
    if ((*src)[i] == (*tgt)[i]) continue;
    rep.mismatched_chunks++;
    FERRY_ASSIGN_OR_RETURN(auto rows,
                           NarrowRange(s.source, s.target, t, ranges[i], (*src)[i], (*tgt)[i], narrow));
    rep.mismatches.insert(rep.mismatches.end(), rows.begin(), rows.end());
  }
  if (!rep.mismatches.empty()) {
    FERRY_ASSIGN_OR_RETURN(rep.seen_at_lsn, CurrentWalLsn(s.source));
  }
  return Status::OK();
}

Result<Lsn> SlotConfirmedLsn(const PgConn& source, const std::string& slot) {
  auto text = source.QueryScalar(
      "SELECT coalesce(confirmed_flush_lsn::text, '0/0') FROM pg_replication_slots WHERE slot_name = $1",
      {slot});
  if (text.status().IsNotFound()) {
    return Status::InvalidArgument("replication slot '" + slot + "' does not exist on the source " +
                                   source.Describe());
  }
  FERRY_RETURN_IF_ERROR(text.status());
  return Lsn::Parse(*text);
}

// Until the slot has confirmed `lsn` or the deadline passes (then settling
// goes on anyway: the re-checks decide).
Status WaitForSlot(const PgConn& source, const std::string& slot, Lsn lsn, Clock::time_point deadline) {
  while (true) {
    FERRY_ASSIGN_OR_RETURN(Lsn confirmed, SlotConfirmedLsn(source, slot));
    if (confirmed >= lsn) return Status::OK();
    if (Clock::now() >= deadline) {
      spdlog::warn("slot {} confirmed {} < {} after the settle timeout", slot, confirmed.ToString(),
                   lsn.ToString());
      return Status::OK();
    }
    SleepUnlessStopped(kFirstRecheckDelay);
    if (StopRequested()) return Status::Aborted("stop requested");
  }
}

// Compares the differing rows again until they match or the timeout passes.
Status Settle(Sessions& s, const ValidateOptions& o, std::vector<TableRun>& runs) {
  auto deadline = Clock::now() + o.settle_timeout;
  Lsn newest;
  for (const auto& r : runs) newest = std::max(newest, r.report.seen_at_lsn);
  if (!newest.IsValid()) return Status::OK();
  if (!o.slot.empty()) FERRY_RETURN_IF_ERROR(WaitForSlot(s.source, o.slot, newest, deadline));
  for (milliseconds delay = kFirstRecheckDelay;; delay = std::min(delay * 2, kMaxRecheckDelay)) {
    bool differs = false;
    for (auto& r : runs) {
      auto& rep = r.report;
      if (rep.mismatches.empty()) continue;
      FERRY_ASSIGN_OR_RETURN(auto still, RecheckRows(s.source, s.target, r.table, rep.mismatches));
      rep.settled_rows += std::max<int64_t>(0, static_cast<int64_t>(rep.mismatches.size() - still.size()));
      rep.mismatches = std::move(still);
      differs = differs || !rep.mismatches.empty();
    }
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (!differs || left <= milliseconds(0)) return Status::OK();
    SleepUnlessStopped(std::min(delay, left));
    if (StopRequested()) return Status::Aborted("stop requested");
  }
}

// Rows repair leaves alone (conflict rule none, a table it cannot repair)
// were settled already: they are set aside while the written ones settle.
Status Repair(Sessions& s, const ValidateOptions& o, std::vector<TableRun>& runs) {
  std::unique_ptr<apply::TargetWriter> writer;
  std::vector<std::vector<RowMismatch>> left_alone(runs.size());
  std::vector<int64_t> settled_before(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    auto& rep = runs[i].report;
    settled_before[i] = rep.settled_rows;
    if (rep.mismatches.empty()) continue;
    if (!writer) {
      FERRY_ASSIGN_OR_RETURN(writer, apply::TargetWriter::Connect(o.target_conninfo, {.rule = o.conflict}));
    }
    rep.repair_attempted = true;
    auto counts = RepairRows(s.source, *writer, runs[i].table, rep.mismatches, o.conflict);
    if (counts.status().IsRetriable()) return counts.status();
    if (!counts.ok()) rep.repair_error = counts.status().message();
    if (counts.ok()) rep.repaired = *counts;
    std::vector<RowMismatch> written;
    for (auto& m : rep.mismatches) {
      bool was_written = counts.ok() && RepairWrites(m.problem, o.conflict);
      (was_written ? written : left_alone[i]).push_back(std::move(m));
    }
    rep.mismatches = std::move(written);
    FERRY_ASSIGN_OR_RETURN(rep.seen_at_lsn, CurrentWalLsn(s.source));
  }
  FERRY_RETURN_IF_ERROR(Settle(s, o, runs));
  for (size_t i = 0; i < runs.size(); ++i) {
    auto& rep = runs[i].report;
    rep.settled_rows = settled_before[i];  // repaired rows did not settle by themselves
    rep.mismatches.insert(rep.mismatches.end(), left_alone[i].begin(), left_alone[i].end());
  }
  return Status::OK();
}

Result<std::vector<TableName>> DefaultTables(Sessions& s, std::vector<TableName>* skipped) {
  FERRY_ASSIGN_OR_RETURN(auto source_tables, ListUserTables(s.source));
  FERRY_ASSIGN_OR_RETURN(auto target_tables, ListUserTables(s.target));
  std::set<TableName> on_target(target_tables.begin(), target_tables.end());
  std::vector<TableName> out;
  for (auto& t : source_tables) (on_target.count(t) ? out : *skipped).push_back(t);
  return out;
}

}  // namespace

int64_t TableReport::Count(RowProblem p) const {
  return std::count_if(mismatches.begin(), mismatches.end(),
                       [p](const RowMismatch& m) { return m.problem == p; });
}

bool ValidateReport::Matches() const {
  return std::all_of(tables.begin(), tables.end(), [](const TableReport& t) { return t.Matches(); });
}

Result<ValidateReport> Validate(const ValidateOptions& o) {
  auto start = Clock::now();
  Sessions s;
  FERRY_ASSIGN_OR_RETURN(s.source, OpenSession(o.source_conninfo));
  FERRY_ASSIGN_OR_RETURN(s.target, OpenSession(o.target_conninfo));
  if (!o.slot.empty()) FERRY_RETURN_IF_ERROR(SlotConfirmedLsn(s.source, o.slot).status());
  ValidateReport report;
  std::vector<TableName> names = o.tables;
  if (names.empty()) {
    FERRY_ASSIGN_OR_RETURN(names, DefaultTables(s, &report.skipped));
  }
  std::vector<TableRun> runs;
  for (const auto& name : names) {
    auto table_start = Clock::now();
    FERRY_ASSIGN_OR_RETURN(ValidatedTable t, DescribeTable(s.source, s.target, name));
    TableRun run{t, {}};
    run.report.name = name;
    run.report.key_columns = t.key_columns;
    run.report.key_source = t.key_source;
    FERRY_RETURN_IF_ERROR(ScanTable(s, o, &run).WithContext("validating " + name.Display()));
    run.report.seconds = SecondsSince(table_start);
    spdlog::info("{}: {} chunks, {} differ, {} rows differ", name.Display(), run.report.chunks,
                 run.report.mismatched_chunks, run.report.mismatches.size());
    runs.push_back(std::move(run));
  }
  FERRY_RETURN_IF_ERROR(Settle(s, o, runs));
  if (o.repair) FERRY_RETURN_IF_ERROR(Repair(s, o, runs));
  for (auto& r : runs) report.tables.push_back(std::move(r.report));
  report.seconds = SecondsSince(start);
  return report;
}

}  // namespace ferry::reconcile
