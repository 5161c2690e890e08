#include "apply/schema_changes.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace ferry::apply {

namespace {

using ferry::v1::ChangeEvent;
using ferry::v1::Column;

// The target's spelling of the source column's type, with its modifier.
Result<std::string> TargetType(const PgConn& conn, const Column& c, const std::string& table) {
  Result<std::string> type =
      conn.QueryScalar("SELECT pg_catalog.format_type(pg_catalog.to_regtype($1), $2::int)",
                       {c.type_name(), std::to_string(c.type_modifier())});
  if (type.ok() && !type->empty()) return type;
  if (!type.ok() && !type.status().IsNotFound()) return type.status();
  return Status::InvalidArgument("type '" + c.type_name() + "' of column " + QuoteIdent(c.name()) +
                                 " of " + table + " does not exist on the target: create it first");
}

const google::protobuf::RepeatedPtrField<Column>& CarriedColumns(const ChangeEvent& e) {
  return e.columns_size() > 0 ? e.columns() : e.old_columns();
}

}  // namespace

Status CreateTargetTable(const PgConn& conn, const ChangeEvent& e) {
  const std::string name = QualifiedName(e.schema(), e.table());
  const auto& columns = CarriedColumns(e);
  std::string defs;
  for (const auto& c : columns) {
    FERRY_ASSIGN_OR_RETURN(std::string type, TargetType(conn, c, name));
    defs += (defs.empty() ? "" : ", ") + QuoteIdent(c.name()) + " " + type;
  }
  // A key of every column is REPLICA IDENTITY FULL: such a table has no key.
  if (e.key_columns_size() > 0 && e.key_columns_size() < columns.size()) {
    std::string key;
    for (const auto& k : e.key_columns()) key += (key.empty() ? "" : ", ") + QuoteIdent(k);
    defs += ", PRIMARY KEY (" + key + ")";
  }
  FERRY_RETURN_IF_ERROR(conn.Exec("CREATE SCHEMA IF NOT EXISTS " + QuoteIdent(e.schema())).status());
  FERRY_RETURN_IF_ERROR(conn.Exec("CREATE TABLE IF NOT EXISTS " + name + " (" + defs + ")").status());
  spdlog::info("created target table {} ({})", name, defs);
  return Status::OK();
}

std::vector<const Column*> MissingColumns(const ChangeEvent& e, const TableInfo& table) {
  std::vector<const Column*> missing;
  for (const auto* list : {&e.columns(), &e.old_columns()}) {
    for (const auto& c : *list) {
      if (table.FindColumn(c.name()) != nullptr) continue;
      auto same = [&](const Column* m) { return m->name() == c.name(); };
      if (std::none_of(missing.begin(), missing.end(), same)) missing.push_back(&c);
    }
  }
  return missing;
}

Status AddTargetColumns(const PgConn& conn, const TableInfo& table,
                        const std::vector<const Column*>& columns) {
  for (const Column* c : columns) {
    FERRY_ASSIGN_OR_RETURN(std::string type, TargetType(conn, *c, table.QualifiedName()));
    FERRY_RETURN_IF_ERROR(conn.Exec("ALTER TABLE " + table.QualifiedName() +
                                    " ADD COLUMN IF NOT EXISTS " + QuoteIdent(c->name()) + " " +
                                    type)
                              .status());
    spdlog::info("added column {} {} to target table {} (--evolve-schema)", QuoteIdent(c->name()),
                 type, table.QualifiedName());
  }
  return Status::OK();
}

}  // namespace ferry::apply
