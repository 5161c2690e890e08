// Schema changes apply makes on the target, from what the events carry:
//   --create-tables  a missing target table is created from the event's columns
//                    (names, the source's type names and modifiers) with a
//                    primary key on the source's key; none when the source key
//                    is the whole row (REPLICA IDENTITY FULL: identical rows
//                    must coexist). A primary key on every column looks the
//                    same in the events, so such a table gets none either,
//                    and its first update or delete stops apply asking for
//                    one (create that table on the target first);
//   --evolve-schema  a source column missing on the target is added to it.
// A column dropped on the source is no longer carried; the target keeps its
// column. Each change is its own committed statement before the batch (DDL is
// idempotent here: IF NOT EXISTS), never part of the batch's transaction.
//
// Types are resolved on the target by the source's name for them
// (to_regtype), so user-defined types (enums, domains, composites) must exist
// on the target first; otherwise InvalidArgument names the type and column.
//
// Thread-safety: none.
#pragma once

#include <string>
#include <vector>

#include "apply/table_catalog.h"
#include "common/pg.h"
#include "common/status.h"
#include "transport/change_event.pb.h"

namespace ferry::apply {

// REQUIRES: the event carries columns (any operation but TRUNCATE).
Status CreateTargetTable(const PgConn& conn, const ferry::v1::ChangeEvent& e);

// The event's columns the target table lacks, by name.
std::vector<const ferry::v1::Column*> MissingColumns(const ferry::v1::ChangeEvent& e,
                                                     const TableInfo& table);

Status AddTargetColumns(const PgConn& conn, const TableInfo& table,
                        const std::vector<const ferry::v1::Column*>& columns);

}  // namespace ferry::apply
