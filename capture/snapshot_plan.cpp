#include "capture/snapshot_plan.h"

#include <sched.h>

#include <algorithm>

#include "transport/naming.h"

namespace ferry::capture {

namespace {

constexpr int64_t kSampleRowsPerPart = 100;
constexpr int64_t kMinSampleRows = 1000;
constexpr int kMinSampleRowsPerCut = 20;

CopyPart NewPart(const SnapshotTable& t, size_t table_index, int part) {
  CopyPart p;
  p.table = table_index;
  p.progress.schema = t.schema;
  p.progress.table = t.name;
  p.progress.part = part;
  return p;
}

Result<std::vector<CopyPart>> PageRanges(const PgConn& conn, const SnapshotTable& t, size_t table_index, int n) {
  FERRY_ASSIGN_OR_RETURN(std::string pages_text,
                         conn.QueryScalar("SELECT pg_relation_size(" + QuoteLiteral(QualifiedName(t.schema, t.name)) +
                                          "::regclass) / current_setting('block_size')::bigint"));
  const int64_t pages = std::stoll(pages_text);
  n = static_cast<int>(std::clamp<int64_t>(pages, 1, n));
  std::vector<CopyPart> parts;
  for (int i = 0; i < n; ++i) {
    CopyPart p = NewPart(t, table_index, i);
    p.first_page = pages * i / n;
    p.end_page = i + 1 < n ? pages * (i + 1) / n : -1;
    parts.push_back(std::move(p));
  }
  return parts;
}

// Keys sampled from the table, in key order, at most `percent` of its rows
// by `method` (SYSTEM: whole pages; BERNOULLI: rows).
Result<PgResult> SampleKeys(const PgConn& conn, const SnapshotTable& t, const char* method, double percent) {
  std::string keys;
  for (size_t i = 0; i < t.key_order.size(); ++i) keys += (i ? ", " : "") + QuoteIdent(t.columns[t.key_order[i]].name);
  return conn.Exec("SELECT " + keys + " FROM ONLY " + QualifiedName(t.schema, t.name) + " TABLESAMPLE " + method +
                   " (" + std::to_string(percent) + ") ORDER BY " + keys);
}

// The cuts between parts, from keys sampled from the table. SYSTEM reads only
// the pages it samples (BERNOULLI reads every page: a tenth of a second per
// million rows, before the first row is copied); its sample comes in whole
// pages, which only makes the parts' sizes less even. Too small a sample (a
// few pages picked, or none) is taken again by BERNOULLI.
Result<std::vector<KeyValues>> SampleCuts(const PgConn& conn, const SnapshotTable& t, int n) {
  const double want = static_cast<double>(std::max(kMinSampleRows, kSampleRowsPerPart * n));
  const double percent = std::min(100.0, 100.0 * want / std::max(1.0, t.estimated_rows));
  FERRY_ASSIGN_OR_RETURN(PgResult r, SampleKeys(conn, t, "SYSTEM", percent));
  if (PQntuples(r.get()) < kMinSampleRowsPerCut * n) {
    FERRY_ASSIGN_OR_RETURN(r, SampleKeys(conn, t, "BERNOULLI", percent));
  }
  const int m = PQntuples(r.get());
  std::vector<KeyValues> cuts;
  for (int i = 1; i < n && m > 0; ++i) {
    const int row = static_cast<int>(static_cast<int64_t>(m) * i / n);
    KeyValues cut;
    for (size_t k = 0; k < t.key_order.size(); ++k) cut.emplace_back(PQgetvalue(r.get(), row, static_cast<int>(k)));
    if (cuts.empty() || cuts.back() != cut) cuts.push_back(std::move(cut));
  }
  return cuts;
}

}  // namespace

int SnapshotWorkersFor(int cpus) { return std::clamp(cpus, 1, 4); }

int DefaultSnapshotWorkers() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return SnapshotWorkersFor(4);
  return SnapshotWorkersFor(CPU_COUNT(&set));
}

int PartsFor(double estimated_rows, PlanOptions o) {
  if (o.workers <= 1 || o.chunk_rows <= 0) return 1;
  const double parts = estimated_rows / (2.0 * static_cast<double>(o.chunk_rows));
  return static_cast<int>(std::clamp(parts, 1.0, 4.0 * o.workers));
}

Result<std::vector<CopyPart>> PlanParts(const PgConn& conn, const SnapshotTable& t, size_t table_index,
                                        PlanOptions o) {
  // A partitioned root has neither one heap nor a sample of its own.
  const int n = t.partitioned ? 1 : PartsFor(t.estimated_rows, o);
  if (n <= 1) return std::vector<CopyPart>{NewPart(t, table_index, 0)};
  if (t.keyless()) return PageRanges(conn, t, table_index, n);
  FERRY_ASSIGN_OR_RETURN(std::vector<KeyValues> cuts, SampleCuts(conn, t, n));
  std::vector<CopyPart> parts;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    CopyPart p = NewPart(t, table_index, static_cast<int>(i));
    if (i > 0) p.progress.last_key = cuts[i - 1];
    if (i < cuts.size()) p.progress.upper = cuts[i];
    parts.push_back(std::move(p));
  }
  return parts;
}

}  // namespace ferry::capture
