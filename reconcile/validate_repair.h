// Repair: makes the target's mismatching rows equal to the source's, through
// apply's TargetWriter, so the same statements and conflict handling apply:
//
//   missing   -> the source row as a READ event (an upsert)
//   different -> the source row as a READ event (overwrites the target's)
//   extra     -> a DELETE event by key
// A missing/different row the source no longer has (deleted meanwhile) is
// deleted on the target: the source wins.
//
// Conflict rule (ferry apply --conflict):
//   replace (default) and merge: all of the above. Repair rows carry every
//     common column, so merge (which keeps target columns an event does not
//     carry) writes the same as replace; TargetWriter runs with `replace`.
//   none: the target wins any conflict: only missing rows are inserted;
//     different and extra rows are left as they are (and stay reported).
//
// Rows are read from the source under the validate session settings and bound
// as text parameters. Tables without a key are not repaired (InvalidArgument):
// there is no row identity to overwrite or delete by.
//
// Thread-safety: functions. REQUIRES: PrepareValidateSession on `source`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apply/target_writer.h"
#include "reconcile/validate_diff.h"

namespace ferry::reconcile {

struct RepairCounts {
  int64_t upserted = 0;
  int64_t deleted = 0;
  int64_t skipped = 0;  // left alone under the `none` rule
};

// Whether repair writes a row with this problem under `rule`.
bool RepairWrites(RowProblem p, apply::ConflictRule rule);

Result<RepairCounts> RepairRows(const PgConn& source, apply::TargetWriter& writer,
                                const ValidatedTable& t, const std::vector<RowMismatch>& rows,
                                apply::ConflictRule rule);

}  // namespace ferry::reconcile
