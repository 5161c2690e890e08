// StatementBuilder: the SQL text and parameters that apply one change event
// under the `replace` conflict rule (source wins).
//
//   INSERT/READ/UPDATE -> INSERT INTO "s"."t" ("c1",..) VALUES ($1,..)
//                         ON CONFLICT ("k1",..) DO UPDATE SET "c"=EXCLUDED."c",..
//                         (DO NOTHING when only key columns are carried)
//   DELETE             -> DELETE FROM "s"."t" WHERE "k1" = $1 AND ..
//   TRUNCATE           -> TRUNCATE "s"."t" [RESTART IDENTITY] [CASCADE]
//
// Why replaying any suffix of a row's events leaves the target as applying them
// once: every statement writes absolute values taken from the event alone (the
// whole carried row, or the row's absence), never a change relative to what the
// target holds, and it does not fail when the row is already there (upsert) or
// already gone (delete). So after replaying events i..n, each column of the row
// holds what the last event of the whole history that wrote it wrote: for the
// replayed events that is the same write as the first time, and columns they do
// not write (unchanged TOAST) still hold what the first pass left. Events of
// different rows touch disjoint rows, so their interleaving does not matter.
//
// What the event must satisfy (else InvalidArgument when the target does not fit
// the event, Corruption when the event itself is malformed):
//   - key_columns non-empty, and equal (as a set) to the primary key or a
//     usable unique index of the target table;
//   - INSERT/READ/UPDATE: every key column carried in `columns` as TEXT;
//   - DELETE: every key column in `old_columns` as TEXT (old_tuple OLD_KEY or
//     OLD_FULL); the other old columns are ignored;
//   - every carried column exists on the target; TEXT values contain no NUL;
//   - BINARY values are not supported yet.
// An UPDATE's old_columns are ignored: a key change arrives as its own DELETE
// of the old key, and deleting it again here could remove a newer row that
// reused the old key.
//
// A row missing on the target when an UPDATE carrying unchanged TOAST columns
// arrives is inserted without those columns (they get their defaults): apply
// has no value to write. In order-preserving replay the row is always there.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "apply/table_catalog.h"
#include "common/status.h"
#include "transport/change_event.pb.h"

namespace ferry::apply {

struct Statement {
  std::string sql;
  // Text values for $1..$n; nullptr is SQL NULL. They point into the event the
  // statement was built from, which must outlive the statement.
  std::vector<const char*> params;
};

// REQUIRES: `table` describes the event's target table.
Result<Statement> BuildReplaceStatement(const ferry::v1::ChangeEvent& e, const TableInfo& table);

// "INSERT", "UPDATE", "DELETE", "TRUNCATE", "READ".
std::string_view OperationName(ferry::v1::Operation op);

// `UPDATE on "s"."t" at commit LSN 0/16B3748 (event 3 of its transaction)`,
// the prefix of every error about one event.
std::string DescribeEvent(const ferry::v1::ChangeEvent& e);

}  // namespace ferry::apply
