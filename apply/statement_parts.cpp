#include "apply/statement_parts.h"

#include <algorithm>

#include "common/pg.h"

namespace ferry::apply {

using ferry::v1::ChangeEvent;
using ferry::v1::Column;

bool Contains(const Names& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

const Column* FindColumn(const Columns& columns, const std::string& name) {
  for (const auto& c : columns) {
    if (c.name() == name) return &c;
  }
  return nullptr;
}

Status MissingColumn(const std::string& name, const TableInfo& table) {
  return Status::InvalidArgument("column " + QuoteIdent(name) + " does not exist in target table " +
                                 table.QualifiedName() +
                                 ": add it to the target, or run apply with --evolve-schema");
}

Status CheckKeyValue(const Column* c, const std::string& key, const char* where) {
  if (c == nullptr || c->kind() == Column::KIND_UNCHANGED_TOAST) {
    return Status::Corruption("event carries no value for key column " + QuoteIdent(key) + " in " +
                              where);
  }
  if (c->kind() == Column::KIND_NULL) {
    return Status::Corruption("key column " + QuoteIdent(key) + " is NULL in " + where);
  }
  return Status::OK();
}

bool CarriesWholeRow(const ChangeEvent& e) {
  if (e.old_tuple() == ChangeEvent::OLD_FULL) return true;
  return e.key_columns_size() > 0 && e.key_columns_size() == e.columns_size();
}

Result<Identity> ChooseIdentity(const ChangeEvent& e, const TableInfo& table) {
  Names key(e.key_columns().begin(), e.key_columns().end());
  if (!key.empty() && table.HasUniqueKey(key)) return Identity{key};
  if (CarriesWholeRow(e)) {
    // REPLICA IDENTITY FULL: a target key among the carried columns, else the row.
    for (const auto& k : table.unique_keys) {
      if (std::all_of(k.begin(), k.end(), [&](const auto& n) { return Contains(key, n); })) {
        return Identity{k};
      }
    }
    return Identity{};
  }
  if (key.empty()) {
    if (e.op() == ferry::v1::OP_INSERT || e.op() == ferry::v1::OP_READ) return Identity{};
    return Status::InvalidArgument("event for " + table.QualifiedName() +
                                   " names no key columns: the source table needs a primary "
                                   "key, a replica identity index or REPLICA IDENTITY FULL");
  }
  return Status::InvalidArgument("target table " + table.QualifiedName() +
                                 " has no primary key or unique index on (" + QuoteIdentList(key) +
                                 "), the source's key: create one");
}

std::string InsertInto(const TableInfo& table, const Names& columns) {
  return "INSERT INTO " + table.QualifiedName() + " (" + QuoteIdentList(columns) + ")" +
         (table.HasIdentityAlways() ? " OVERRIDING SYSTEM VALUE" : "");
}

}  // namespace ferry::apply
