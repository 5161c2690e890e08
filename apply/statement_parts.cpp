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

void AppendOnConflict(const TableInfo& table, const Identity& id, const Names& written, ConflictRule rule,
                      Statement* st) {
  st->conflict = ConflictKind::kInsertExists;
  st->sql += " ON CONFLICT (" + QuoteIdentList(id.key) + ") DO ";
  if (rule == ConflictRule::kNone) {
    st->sql += "NOTHING RETURNING true";
    st->check = ResultCheck::kNoRowIsConflict;
    st->resolution = Resolution::kSkipped;
    return;
  }
  std::string set;
  auto add = [&set](const std::string& column, const char* value) {
    if (!set.empty()) set += ", ";
    set += QuoteIdent(column);
    set += value;
    if (std::string_view(value) == " = EXCLUDED.") set += QuoteIdent(column);
  };
  for (const auto& c : written) {
    const ColumnInfo* column = table.FindColumn(c);
    if (Contains(id.key, c) || column == nullptr || column->identity_always) continue;
    add(c, " = EXCLUDED.");
  }
  if (rule == ConflictRule::kReplace) {
    // The whole row is the source's: what the event does not carry is reset.
    for (const auto& c : table.columns) {
      if (Contains(written, c.name) || c.generated || Contains(id.key, c.name)) continue;
      add(c.name, " = DEFAULT");
    }
  }
  // An update with nothing to set still has to happen for RETURNING to report it.
  if (set.empty()) add(id.key[0], " = EXCLUDED.");
  st->sql += "UPDATE SET " + set + " RETURNING xmax = 0";
  st->check = ResultCheck::kFalseIsConflict;
  st->resolution = rule == ConflictRule::kReplace ? Resolution::kOverwritten : Resolution::kMerged;
}

}  // namespace ferry::apply
