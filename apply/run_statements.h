// RunStatements: one statement for a run of consecutive events of one table
// that do the same thing (insert, update or delete) to the same columns, so a
// batch costs a few statements rather than one per row. Each column's values
// travel as one array parameter typed with the column's array type, and
// unnest() turns them back into rows, in event order:
//
//   insert  INSERT INTO t (cols) SELECT .. FROM unnest($1, ..) AS x(cols)
//           [ON CONFLICT (k) DO NOTHING RETURNING true |
//            ON CONFLICT (k) DO UPDATE SET .. RETURNING xmax = 0]   (as one event's)
//   update  none:          UPDATE t SET .. FROM unnest(..) x WHERE t.k = x.k RETURNING true
//           replace/merge: WITH x AS (unnest), u AS (UPDATE .. RETURNING t.k)
//                          INSERT .. SELECT .. FROM x WHERE NOT EXISTS (u with x's key)
//   delete  DELETE FROM t USING unnest(..) x WHERE t.k = x.k RETURNING true
//
// Conflicts are counted from the rows back, as for one event (ConflictsIn), so
// every rule and count stays what statement_builder.h says.
//
// Order: rows are inserted in the array's order, so unique values that move
// between rows inside a run keep the source's order. An UPDATE .. FROM may
// visit rows in any order, so updates form runs only on tables whose one unique
// index (or exclusion constraint) is the key they are found by. A run never
// holds one row twice (ON CONFLICT may not touch a row twice; the second change
// of a row must see the first).
//
// What cannot join a run gets its own statement (statement_builder.h): row-mode
// updates and deletes (REPLICA IDENTITY FULL without a target key), TRUNCATE,
// binary values, columns whose type has no array type, unchanged TOAST values
// unlike the run's, and anything malformed (whose error the single statement names).
#pragma once

#include <span>
#include <string>

#include "apply/conflict_stats.h"
#include "apply/statement_builder.h"
#include "apply/statement_parts.h"
#include "apply/table_catalog.h"
#include "common/status.h"
#include "transport/change_event.pb.h"

namespace ferry::apply {

// The columns a run writes (as NewRow in statement_builder.cpp: carried, not
// unchanged TOAST, not generated); empty when one of them cannot travel in an array.
Names WrittenColumns(const ferry::v1::ChangeEvent& e, const TableInfo& table);

// Events with equal non-empty run keys, one after another, may form one
// statement; "" when the event needs its own.
std::string RunKey(const ferry::v1::ChangeEvent& e, const TableInfo& table);

// True when `b` has the same run key as `a` on any table (the same
// operation, key and columns, each of the same kind, no NUL in `b`'s values):
// a cheap test that spares computing RunKey for most events of a run.
// REQUIRES: RunKey(a, table) is not empty.
bool SameRunShape(const ferry::v1::ChangeEvent& a, const ferry::v1::ChangeEvent& b);

// The row an event changes, as far as a run must not hold it twice; "" when
// the run's statement does not care (plain inserts of keyless tables).
// REQUIRES: RunKey(e, table) is not empty.
std::string RunRow(const ferry::v1::ChangeEvent& e, const TableInfo& table);

// REQUIRES: events non-empty, all with the same RunKey, no RunRow twice.
Result<Statement> BuildRunStatement(std::span<const ferry::v1::ChangeEvent* const> events,
                                    const TableInfo& table, ConflictRule rule);

}  // namespace ferry::apply
