// Validate: proves the target holds the source's rows, table by table, and
// optionally repairs what differs. The library behind `ferry validate` (and
// the validation step of `ferry cutover`).
//
// For each table (see validate_table.h for columns and keys):
//   1. Chunks: every `chunk_rows`-th key of the source (keyset sampling) cuts the key
//      space into ranges; each range's digest (count, sum of row hashes) is
//      computed inside both databases, concurrently, each side in one
//      REPEATABLE READ snapshot.
//   2. Differing chunks are narrowed to rows (validate_diff.h): missing, extra,
//      different, listed by key.
//   3. Settle: validate may run while replication runs, so a row that differs
//      may only be in flight. The source's pg_current_wal_lsn() is recorded
//      when a table's mismatches are seen; with `slot` set, validate first
//      waits until that slot's confirmed_flush_lsn has passed it (capture has
//      the change in Kafka). Then the differing rows are compared again, with
//      backoff (100 ms doubling to 2 s), until they match or `settle_timeout`
//      has passed since the scan ended; only rows still differing then are
//      reported. validate has no Kafka access, so this is the bound on how far
//      apply may lag behind: pass a settle_timeout above the pipeline's lag.
//      A row that is truly drifted never settles: it costs settle_timeout, not
//      a false match.
//   4. Repair (validate_repair.h), then the repaired rows are settled again the
//      same way; what still differs is reported.
//
// Thread-safety: Validate opens its own connections; call it from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "apply/target_writer.h"
#include "common/lsn.h"
#include "reconcile/validate_diff.h"
#include "reconcile/validate_repair.h"

namespace ferry::reconcile {

struct ValidateOptions {
  std::string source_conninfo;
  std::string target_conninfo;
  // Tables to compare; empty: every table of the source's user schemas that
  // also exists on the target (the others are listed as skipped).
  std::vector<TableName> tables;
  // Rows per chunk of the first pass (sampled on the source). Default 10,000.
  int64_t chunk_rows = 10000;
  // A differing chunk with at most this many rows (on its larger side) is
  // fetched as (key, md5) pairs; a larger one is split. Default 1,000.
  int64_t fetch_rows = 1000;
  // How long differing rows may take to converge before they count as drift.
  std::chrono::milliseconds settle_timeout{30000};
  // Optional: the capture slot, to wait for its confirmed_flush_lsn first.
  std::string slot;
  bool repair = false;
  apply::ConflictRule conflict = apply::ConflictRule::kReplace;
};

struct TableReport {
  TableName name;
  std::vector<std::string> key_columns;
  std::string key_source;  // "primary key", "unique index <name>", "none"
  int64_t source_rows = 0;  // from the chunk pass (each side's snapshot)
  int64_t target_rows = 0;
  int64_t chunks = 0;
  int64_t mismatched_chunks = 0;
  Lsn seen_at_lsn;                    // source WAL position when rows first differed
  int64_t settled_rows = 0;           // rows that differed, then converged
  std::vector<RowMismatch> mismatches;  // what still differs at the end
  bool repair_attempted = false;
  RepairCounts repaired;
  std::string repair_error;  // why the table was not (fully) repaired
  double seconds = 0;

  bool Matches() const { return mismatches.empty(); }
  int64_t Count(RowProblem p) const;
};

struct ValidateReport {
  std::vector<TableReport> tables;
  std::vector<TableName> skipped;  // on the source only (default table list)
  double seconds = 0;
  bool Matches() const;
};

// Errors: Unavailable when a server cannot be reached; InvalidArgument for a
// listed table missing on either side. Differences are not errors: they are in
// the report (Matches() false).
Result<ValidateReport> Validate(const ValidateOptions& options);

}  // namespace ferry::reconcile
