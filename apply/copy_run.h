// CopyRun: a run of inserts (apply/run_statements.h) written with
// COPY .. FROM STDIN instead of INSERT .. SELECT FROM unnest(..) ON CONFLICT:
// the fast path for rows the target does not hold yet, the common case of an
// initial snapshot's chunks, a large transaction's inserts and a backlog of
// single-row inserts. COPY parses text rows straight into the table and
// inserts them in batches; the statement pays for arrays, a speculative
// insertion per row and a row back per event.
//
// COPY knows no ON CONFLICT, so the caller (TargetWriter) runs it inside a
// savepoint: when COPY succeeds no row existed (each one was inserted, no
// conflict to count under any rule); when the target refuses it (a row
// exists, or a value or constraint fails) the caller rolls back to the
// savepoint and sends the run's ordinary statement, which resolves and counts
// the conflicts under the rule, or fails with the error a user is used to.
// Either way the target ends as the statement alone would leave it.
//
// Only plain inserts and snapshot reads qualify (not the insert half of a key
// change), on tables without rules (INSERT follows them, COPY does not).
#pragma once

#include <libpq-fe.h>

#include <optional>
#include <span>
#include <string>

#include "apply/pipeline.h"
#include "apply/statement_parts.h"
#include "apply/table_catalog.h"
#include "common/status.h"
#include "transport/change_event.pb.h"

namespace ferry::apply {

// Whether `run` (one run of run_statements.h) may be written by COPY.
bool CopyFits(std::span<const ferry::v1::ChangeEvent* const> run, const TableInfo& table);

// `COPY "s"."t" ("a", "b") FROM STDIN`
std::string CopyStatement(const TableInfo& table, const Names& columns);

// Appends `e`'s row in COPY's text format: `columns`' values, tab-separated,
// \N for NULL, backslash escapes, a newline at the end.
void AppendCopyRow(std::string& out, const ferry::v1::ChangeEvent& e, const Names& columns);

// Runs `CopyStatement` on `conn` (idle, not in pipeline mode, inside a
// transaction) with the rows of `run`, sent in pieces of about a megabyte.
// Returns the server's refusal (nullopt: every row inserted); a lost or
// stalled connection is Unavailable (common/server_wait.h), and the
// connection is unusable then.
Result<std::optional<PipelineFailure>> CopyRows(PGconn* conn, std::span<const ferry::v1::ChangeEvent* const> run,
                                               const TableInfo& table, const Names& columns);

}  // namespace ferry::apply
