// Planning a table's initial copy in parts, so that several snapshot workers
// read one big table at once (--snapshot-workers means workers, not tables).
//
// A keyed table is cut at keys sampled from it (TABLESAMPLE SYSTEM, a hundred
// rows or so per part): part i holds the keys after cut i-1 up to and
// including cut i (the first from the start, the last to the end), read like a
// whole table, in key-ordered chunks, each part resuming from its own last
// acknowledged key. A keyless table is cut into ranges of heap pages (TID range
// scans, `ctid >= '(p,0)' AND ctid < '(q,0)'`), the last range open-ended so
// that rows on pages past the plan's end are read too. The cuts only split
// the work: every row is in exactly one part whatever the sample.
//
// Thread-safety: pure functions and one connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "capture/snapshot_progress.h"
#include "capture/snapshot_table.h"
#include "common/pg.h"

namespace ferry::capture {

struct PlanOptions {
  int workers = 4;
  int64_t chunk_rows = 10000;
};

// --snapshot-workers' default: the CPUs this process may run on (its
// affinity mask, as `nproc` counts them), at most 4. Each worker is a thread
// here that encodes and compresses what it reads, and a backend on the source;
// more of them than cores only take turns, and on a machine that also runs the
// source or the target they take CPU from the one backend writing the copy
// (README, Snapshots: "How many workers").
int DefaultSnapshotWorkers();
// The same for `cpus` CPUs: between 1 and 4.
int SnapshotWorkersFor(int cpus);

// Parts for a table of about `estimated_rows`: one unless several workers and
// at least two chunks per part; at most 4 x workers.
int PartsFor(double estimated_rows, PlanOptions o);

struct CopyPart {
  size_t table = 0;       // index of the table in the copier's list
  TableProgress progress;  // part, and its key range (last_key, upper)
  // Keyless: heap pages [first_page, end_page); end_page < 0 to the end.
  int64_t first_page = 0;
  int64_t end_page = -1;
};

// The parts of `t` (at least one), in key (or page) order, numbered from 0.
Result<std::vector<CopyPart>> PlanParts(const PgConn& conn, const SnapshotTable& t, size_t table_index,
                                        PlanOptions o);

}  // namespace ferry::capture
