// StatementBuilder: the SQL text and parameters that apply one change event
// under a conflict rule, and how to read its result to see whether it met a
// conflict.
//
// How a row is found. Key mode: the event's key columns (its replica identity)
// form a unique key of the target, or the event carries the whole old row
// (REPLICA IDENTITY FULL) and the target has a unique key among its columns.
// Row mode: REPLICA IDENTITY FULL onto a target with no such key; the row is the
// first one whose every carried old column is IS NOT DISTINCT FROM the old value
// (compared as the target prints both), taken by ctid in a subselect with LIMIT
// 1, so that of several identical rows exactly one is updated or deleted.
//
// Key mode, by operation and rule (k = key, c = carried non-key columns):
//   INSERT/READ  none     INSERT .. ON CONFLICT (k) DO NOTHING RETURNING true
//                         no row back: insert_exists, skipped
//                merge    INSERT .. ON CONFLICT (k) DO UPDATE SET c = EXCLUDED.c
//                         RETURNING xmax = 0; false: insert_exists, merged
//                replace  as merge, and target-only columns SET DEFAULT:
//                         insert_exists, overwritten
//   UPDATE       none     UPDATE .. SET c WHERE k RETURNING true
//                         no row back: update_missing, skipped
//                replace/ WITH u AS (UPDATE .. RETURNING 1), i AS (INSERT .. SELECT
//                merge    .. WHERE NOT EXISTS (SELECT FROM u)) SELECT EXISTS (SELECT FROM u)
//                         false: update_missing, inserted (carried columns,
//                         target defaults for the rest)
//   DELETE       all      DELETE .. WHERE k RETURNING true
//                         no row back: delete_missing, skipped
// Row mode: INSERT is a plain INSERT; UPDATE/DELETE as above with the ctid match.
// The second half of a key-changing update (key_changed) inserts the row at its
// new key, so it is planned as an INSERT: its missing row is expected.
//
// Columns sent as unchanged TOAST are never written (the target keeps its
// value), generated columns of the target are never written, identity columns
// take the source's value (OVERRIDING SYSTEM VALUE). Parameters are typed with
// the target column's type (no typmod: assignment applies length checks).
//
// What the event must satisfy (else InvalidArgument when the target does not
// fit the event, Corruption when the event itself is malformed):
//   - every carried column exists on the target; TEXT values contain no NUL;
//   - BINARY values (capture asks for text; they come only from other
//     producers) are bound in binary, so the target column's type must be the
//     source's (compared by name for built-in types);
//   - key mode: every key column carried (new row; old row for DELETE and for
//     REPLICA IDENTITY FULL updates) as TEXT, not NULL;
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "apply/conflict_stats.h"
#include "apply/table_catalog.h"
#include "common/pg.h"
#include "common/status.h"
#include "transport/change_event.pb.h"

namespace ferry::apply {

// How a statement's result tells how many of its events met a conflict.
enum class ResultCheck {
  kNone,              // it cannot conflict
  kNoRowIsConflict,   // one row back per event without conflict
  kFalseIsConflict,   // one row per event; first column false on conflict
  kRowIsConflict,     // one row back per event that met a conflict
};

struct Statement {
  std::string sql;
  // Text values for $1..$n; nullptr is SQL NULL. They point into the event the
  // statement was built from, which must outlive the statement, or into `owned`.
  std::vector<const char*> params;
  std::vector<uint32_t> param_types;  // type OIDs, one per parameter
  std::vector<int> param_lengths;     // byte lengths (read for binary values only)
  std::vector<int> param_formats;     // 0 text, 1 binary (the type's send form)
  std::vector<std::string> owned;     // values built for the statement (a run's arrays)
  ResultCheck check = ResultCheck::kNone;
  ConflictKind conflict = ConflictKind::kInsertExists;
  Resolution resolution = Resolution::kSkipped;
  uint32_t events = 1;  // how many events it applies
};

// How many of a statement's `events` met a conflict, from its result rows.
int64_t ConflictsIn(ResultCheck check, uint32_t events, const PGresult* rows);

// REQUIRES: `table` describes the event's target table; op is not TRUNCATE.
Result<Statement> BuildStatement(const ferry::v1::ChangeEvent& e, const TableInfo& table,
                                 ConflictRule rule);

// TRUNCATE "s"."a", "s"."b" [RESTART IDENTITY] [CASCADE]: the tables one source
// TRUNCATE named, in one statement so that foreign keys among them hold.
Statement BuildTruncate(const std::vector<const TableInfo*>& tables,
                        const ferry::v1::TruncateOptions& options);
// Clears the rows of `table` before a snapshot copies it again
// (TruncateOptions.recopy): DELETE FROM ONLY it.
Statement BuildCopyClear(const TableInfo& table);

// "INSERT", "UPDATE", "DELETE", "TRUNCATE", "READ".
std::string_view OperationName(ferry::v1::Operation op);

// `UPDATE on "s"."t" at commit LSN 0/16B3748 (event 3 of its transaction)`,
// the prefix of every error about one event.
std::string DescribeEvent(const ferry::v1::ChangeEvent& e);

}  // namespace ferry::apply
