// Pieces shared by the statements of one event (statement_builder.h) and of a
// run of events (run_statements.h): how a row is found, and the checks and
// errors both make.
#pragma once

#include <string>
#include <vector>

#include "apply/conflict_stats.h"
#include "apply/statement_builder.h"
#include "apply/table_catalog.h"
#include "common/status.h"
#include "transport/change_event.pb.h"

namespace ferry::apply {

using Names = std::vector<std::string>;
using Columns = google::protobuf::RepeatedPtrField<ferry::v1::Column>;

bool Contains(const Names& names, const std::string& name);
// nullptr when `columns` has no column `name`.
const ferry::v1::Column* FindColumn(const Columns& columns, const std::string& name);

// InvalidArgument naming the column missing on the target and the fix.
Status MissingColumn(const std::string& name, const TableInfo& table);

// Corruption unless `c` carries a non-NULL value for key column `key`.
Status CheckKeyValue(const ferry::v1::Column* c, const std::string& key, const char* where);

// How the target row of an event is found: by a unique key (key mode), or by
// its whole old value (row mode, `key` empty).
struct Identity {
  Names key;
  bool row_mode() const { return key.empty(); }
};

// The event carries the whole row as its key (REPLICA IDENTITY FULL).
bool CarriesWholeRow(const ferry::v1::ChangeEvent& e);
Result<Identity> ChooseIdentity(const ferry::v1::ChangeEvent& e, const TableInfo& table);

// `INSERT INTO "s"."t" ("a", "b")`, with OVERRIDING SYSTEM VALUE when the table
// has GENERATED ALWAYS identity columns (they take the source's value).
std::string InsertInto(const TableInfo& table, const Names& columns);

// Appends an insert's ON CONFLICT (key) clause for `rule` and sets how its
// result reports insert_exists (statement_builder.h): `written` are the
// columns the insert writes.
void AppendOnConflict(const TableInfo& table, const Identity& id, const Names& written, ConflictRule rule,
                      Statement* st);

}  // namespace ferry::apply
