#include "apply/statement_builder.h"

#include <algorithm>

#include "common/lsn.h"
#include "common/pg.h"

namespace ferry::apply {

namespace {

using ferry::v1::ChangeEvent;
using ferry::v1::Column;

std::string JoinQuoted(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += QuoteIdent(n);
  }
  return out;
}

const Column* FindColumn(const google::protobuf::RepeatedPtrField<Column>& columns,
                         const std::string& name) {
  for (const auto& c : columns) {
    if (c.name() == name) return &c;
  }
  return nullptr;
}

// A column's value as a text parameter; nullptr for NULL.
Result<const char*> ParamOf(const Column& c, const TableInfo& table) {
  switch (c.kind()) {
    case Column::KIND_NULL: return static_cast<const char*>(nullptr);
    case Column::KIND_TEXT:
      if (c.value().find('\0') != std::string::npos) {
        return Status::Corruption("text value of column " + QuoteIdent(c.name()) +
                                  " contains a NUL byte");
      }
      return c.value().c_str();
    case Column::KIND_BINARY:
      return Status::InvalidArgument("column " + QuoteIdent(c.name()) + " of " +
                                     table.QualifiedName() +
                                     " arrives in binary form, which apply does not support yet");
    default:
      return Status::Corruption("column " + QuoteIdent(c.name()) + " has no value kind (" +
                                std::to_string(c.kind()) + ")");
  }
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

std::vector<std::string> KeyColumns(const ChangeEvent& e) {
  return {e.key_columns().begin(), e.key_columns().end()};
}

// The target must have every carried column and a unique key on the event's key.
Status CheckShape(const ChangeEvent& e, const TableInfo& table) {
  for (const auto& c : e.columns()) {
    if (table.FindColumn(c.name()) == nullptr) {
      return Status::InvalidArgument("column " + QuoteIdent(c.name()) +
                                     " does not exist in target table " + table.QualifiedName() +
                                     ": add it to the target");
    }
  }
  std::vector<std::string> key = KeyColumns(e);
  if (key.empty()) {
    return Status::InvalidArgument("event for " + table.QualifiedName() +
                                   " names no key columns: the source table needs a primary "
                                   "key or replica identity index");
  }
  if (!table.HasUniqueKey(key)) {
    return Status::InvalidArgument(
        "target table " + table.QualifiedName() + " has no primary key or unique index on (" +
        JoinQuoted(key) + "), the source's key: create one (REPLICA IDENTITY FULL sources are " +
        "not supported yet)");
  }
  return Status::OK();
}

Result<Statement> BuildUpsert(const ChangeEvent& e, const TableInfo& table) {
  for (const auto& key : e.key_columns()) {
    FERRY_RETURN_IF_ERROR(CheckKeyValue(FindColumn(e.columns(), key), key, "the new row"));
  }
  Statement st;
  std::string names, placeholders, updates;
  for (const auto& c : e.columns()) {
    if (c.kind() == Column::KIND_UNCHANGED_TOAST) continue;  // the target keeps its value
    FERRY_ASSIGN_OR_RETURN(const char* param, ParamOf(c, table));
    st.params.push_back(param);
    if (!names.empty()) {
      names += ", ";
      placeholders += ", ";
    }
    names += QuoteIdent(c.name());
    placeholders += "$" + std::to_string(st.params.size());
    bool is_key = std::find(e.key_columns().begin(), e.key_columns().end(), c.name()) !=
                  e.key_columns().end();
    if (is_key) continue;
    if (!updates.empty()) updates += ", ";
    updates += QuoteIdent(c.name()) + " = EXCLUDED." + QuoteIdent(c.name());
  }
  st.sql = "INSERT INTO " + table.QualifiedName() + " (" + names + ") VALUES (" + placeholders +
           ") ON CONFLICT (" + JoinQuoted(KeyColumns(e)) + ") DO " +
           (updates.empty() ? "NOTHING" : "UPDATE SET " + updates);
  return st;
}

Result<Statement> BuildDelete(const ChangeEvent& e, const TableInfo& table) {
  if (e.old_tuple() != ChangeEvent::OLD_KEY && e.old_tuple() != ChangeEvent::OLD_FULL) {
    return Status::Corruption("delete carries no old key (old_tuple " +
                              std::to_string(e.old_tuple()) + ")");
  }
  Statement st;
  std::string where;
  for (const auto& key : e.key_columns()) {
    const Column* c = FindColumn(e.old_columns(), key);
    FERRY_RETURN_IF_ERROR(CheckKeyValue(c, key, "the old key"));
    FERRY_ASSIGN_OR_RETURN(const char* param, ParamOf(*c, table));
    st.params.push_back(param);
    if (!where.empty()) where += " AND ";
    where += QuoteIdent(key) + " = $" + std::to_string(st.params.size());
  }
  st.sql = "DELETE FROM " + table.QualifiedName() + " WHERE " + where;
  return st;
}

Statement BuildTruncate(const ChangeEvent& e, const TableInfo& table) {
  Statement st;
  st.sql = "TRUNCATE " + table.QualifiedName();
  if (e.truncate().restart_identity()) st.sql += " RESTART IDENTITY";
  if (e.truncate().cascade()) st.sql += " CASCADE";
  return st;
}

}  // namespace

Result<Statement> BuildReplaceStatement(const ChangeEvent& e, const TableInfo& table) {
  switch (e.op()) {
    case ferry::v1::OP_INSERT:
    case ferry::v1::OP_READ:
    case ferry::v1::OP_UPDATE:
      FERRY_RETURN_IF_ERROR(CheckShape(e, table));
      return BuildUpsert(e, table);
    case ferry::v1::OP_DELETE:
      FERRY_RETURN_IF_ERROR(CheckShape(e, table));
      return BuildDelete(e, table);
    case ferry::v1::OP_TRUNCATE: return BuildTruncate(e, table);
    default: return Status::Corruption("unknown operation " + std::to_string(e.op()));
  }
}

std::string_view OperationName(ferry::v1::Operation op) {
  switch (op) {
    case ferry::v1::OP_INSERT: return "INSERT";
    case ferry::v1::OP_UPDATE: return "UPDATE";
    case ferry::v1::OP_DELETE: return "DELETE";
    case ferry::v1::OP_TRUNCATE: return "TRUNCATE";
    case ferry::v1::OP_READ: return "READ";
    default: return "UNKNOWN";
  }
}

std::string DescribeEvent(const ChangeEvent& e) {
  return std::string(OperationName(e.op())) + " on " + QualifiedName(e.schema(), e.table()) +
         " at commit LSN " + Lsn(e.commit_lsn()).ToString() + " (event " +
         std::to_string(e.index_in_tx()) + " of its transaction)";
}

}  // namespace ferry::apply
