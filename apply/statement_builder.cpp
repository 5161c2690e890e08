#include "apply/statement_builder.h"

#include <algorithm>

#include "apply/statement_parts.h"
#include "common/lsn.h"
#include "common/pg.h"
#include "transport/row_batch.h"

namespace ferry::apply {

namespace {

using ferry::v1::ChangeEvent;
using ferry::v1::Column;

// A binary value is the source type's send form: the target column must have
// that type. User-defined types are named differently on each side; trust them.
Status CheckBinaryType(const Column& c, const ColumnInfo& target, const TableInfo& table) {
  const std::string& source = c.type_name();
  if (source.empty() || source.find('.') != std::string::npos || source == target.base_type) {
    return Status::OK();
  }
  return Status::InvalidArgument("column " + QuoteIdent(c.name()) + " of " + table.QualifiedName() +
                                 " arrives in binary form of type " + source +
                                 ", but the target column is " + target.base_type +
                                 ": binary forms do not convert; make the types equal");
}

// A column's value as a parameter; nullptr for NULL.
Result<const char*> ParamOf(const Column& c, const TableInfo& table) {
  switch (c.kind()) {
    case Column::KIND_NULL: return static_cast<const char*>(nullptr);
    case Column::KIND_TEXT:
      if (c.value().find('\0') != std::string::npos) {
        return Status::Corruption("text value of column " + QuoteIdent(c.name()) +
                                  " contains a NUL byte");
      }
      return c.value().c_str();
    case Column::KIND_BINARY: {
      const ColumnInfo* target = table.FindColumn(c.name());
      if (target != nullptr) FERRY_RETURN_IF_ERROR(CheckBinaryType(c, *target, table));
      return c.value().data();
    }
    default:
      return Status::Corruption("column " + QuoteIdent(c.name()) + " has no value kind (" +
                                std::to_string(c.kind()) + ")");
  }
}

// The statement under construction: its parameters and their placeholders.
class Builder {
 public:
  Builder(const TableInfo& table, Statement* st) : table_(table), st_(st) {}

  Result<std::string> Param(const Column& c) {
    const ColumnInfo* target = table_.FindColumn(c.name());
    if (target == nullptr) return MissingColumn(c.name(), table_);
    FERRY_ASSIGN_OR_RETURN(const char* value, ParamOf(c, table_));
    st_->params.push_back(value);
    st_->param_types.push_back(target->type_oid);
    st_->param_lengths.push_back(static_cast<int>(c.value().size()));
    st_->param_formats.push_back(c.kind() == Column::KIND_BINARY ? 1 : 0);
    std::string placeholder = "$";
    placeholder += std::to_string(st_->params.size());
    return placeholder;
  }

 private:
  const TableInfo& table_;
  Statement* st_;
};

// A new-row column the statement writes.
struct Assignment {
  std::string name;
  std::string placeholder;
  bool settable;  // may appear in UPDATE SET (identity ALWAYS columns may not)
};

// The event's columns to write: carried, not unchanged TOAST, not generated on
// the target.
Result<std::vector<Assignment>> NewRow(const ChangeEvent& e, const TableInfo& table, Builder& b) {
  std::vector<Assignment> row;
  for (const auto& c : e.columns()) {
    if (c.kind() == Column::KIND_UNCHANGED_TOAST) continue;  // the target keeps its value
    const ColumnInfo* target = table.FindColumn(c.name());
    if (target == nullptr) return MissingColumn(c.name(), table);
    if (target->generated) continue;
    FERRY_ASSIGN_OR_RETURN(std::string placeholder, b.Param(c));
    row.push_back({c.name(), std::move(placeholder), !target->identity_always});
  }
  if (row.empty()) {
    return Status::Corruption("event carries no column to write to " + table.QualifiedName());
  }
  return row;
}

// The WHERE condition finding the row: key columns equal, or the first row
// whose columns all match the old row.
Result<std::string> Locate(const Identity& id, const Columns& values, const char* where,
                           const TableInfo& table, Builder& b) {
  std::string cond;
  if (!id.row_mode()) {
    for (const auto& key : id.key) {
      const Column* c = FindColumn(values, key);
      FERRY_RETURN_IF_ERROR(CheckKeyValue(c, key, where));
      FERRY_ASSIGN_OR_RETURN(std::string p, b.Param(*c));
      if (!cond.empty()) cond += " AND ";
      cond += QuoteIdent(key) + " = " + p;
    }
    return cond;
  }
  // Compared as the target prints both sides, so that types without an
  // equality operator (json, point, xml) match too.
  for (const auto& c : values) {
    if (c.kind() == Column::KIND_UNCHANGED_TOAST) continue;
    if (!cond.empty()) cond += " AND ";
    if (c.kind() == Column::KIND_NULL) {
      if (table.FindColumn(c.name()) == nullptr) return MissingColumn(c.name(), table);
      cond += QuoteIdent(c.name()) + " IS NULL";
      continue;
    }
    FERRY_ASSIGN_OR_RETURN(std::string p, b.Param(c));
    cond += QuoteIdent(c.name()) + "::text IS NOT DISTINCT FROM " + p + "::text";
  }
  if (cond.empty()) return Status::Corruption(std::string("no column to match in ") + where);
  std::string t = table.QualifiedName();
  if (table.partitioned) {
    return "(tableoid, ctid) = (SELECT tableoid, ctid FROM " + t + " WHERE " + cond + " LIMIT 1)";
  }
  return "ctid = (SELECT ctid FROM " + t + " WHERE " + cond + " LIMIT 1)";
}

std::string InsertHead(const TableInfo& table, const std::vector<Assignment>& row) {
  Names names;
  for (const auto& a : row) names.push_back(a.name);
  return InsertInto(table, names);
}

std::string Placeholders(const std::vector<Assignment>& row) {
  std::string out;
  for (const auto& a : row) out += (out.empty() ? "" : ", ") + a.placeholder;
  return out;
}

// `"c" = $2, ..` for the settable columns, keys only with `with_keys`.
std::string SetList(const std::vector<Assignment>& row, const Names& key, bool with_keys) {
  std::string out;
  for (const auto& a : row) {
    if (!a.settable || (!with_keys && Contains(key, a.name))) continue;
    out += (out.empty() ? "" : ", ") + QuoteIdent(a.name) + " = " + a.placeholder;
  }
  return out;
}

Result<Statement> BuildInsert(const ChangeEvent& e, const TableInfo& table, ConflictRule rule) {
  Statement st;
  Builder b(table, &st);
  FERRY_ASSIGN_OR_RETURN(Identity id, ChooseIdentity(e, table));
  for (const auto& key : id.key) {
    FERRY_RETURN_IF_ERROR(CheckKeyValue(FindColumn(e.columns(), key), key, "the new row"));
  }
  FERRY_ASSIGN_OR_RETURN(auto row, NewRow(e, table, b));
  st.sql = InsertHead(table, row) + " VALUES (" + Placeholders(row) + ")";
  Names written;
  for (const auto& a : row) written.push_back(a.name);
  if (!id.row_mode()) AppendOnConflict(table, id, written, rule, &st);  // row mode: nothing to conflict with
  return st;
}

Result<Statement> BuildUpdate(const ChangeEvent& e, const TableInfo& table, ConflictRule rule) {
  Statement st;
  Builder b(table, &st);
  FERRY_ASSIGN_OR_RETURN(Identity id, ChooseIdentity(e, table));
  // A FULL old row locates the row (its key may change in this very update);
  // otherwise the old key, if sent, was split off as a DELETE (key_changed).
  const bool by_old = e.old_tuple() == ChangeEvent::OLD_FULL;
  if (id.row_mode() && !by_old) {
    return Status::Corruption("update of " + table.QualifiedName() +
                              " without a key carries no old row");
  }
  FERRY_ASSIGN_OR_RETURN(auto row, NewRow(e, table, b));
  FERRY_ASSIGN_OR_RETURN(std::string where,
                         Locate(id, by_old ? e.old_columns() : e.columns(),
                                by_old ? "the old row" : "the new row", table, b));
  std::string set = SetList(row, id.key, /*with_keys=*/by_old || id.row_mode());
  if (set.empty()) set = SetList(row, {}, true);  // only keys carried: a no-op update
  std::string update = "UPDATE " + table.QualifiedName() + " SET " + set + " WHERE " + where;
  st.conflict = ConflictKind::kUpdateMissing;
  if (rule == ConflictRule::kNone) {
    st.sql = update + " RETURNING true";
    st.check = ResultCheck::kNoRowIsConflict;
    st.resolution = Resolution::kSkipped;
    return st;
  }
  st.sql = "WITH u AS (" + update + " RETURNING 1), i AS (" + InsertHead(table, row) +
           " SELECT " + Placeholders(row) +
           " WHERE NOT EXISTS (SELECT FROM u) RETURNING 1) SELECT EXISTS (SELECT FROM u)";
  st.check = ResultCheck::kFalseIsConflict;
  st.resolution = Resolution::kInserted;
  return st;
}

Result<Statement> BuildDelete(const ChangeEvent& e, const TableInfo& table) {
  if (e.old_tuple() != ChangeEvent::OLD_KEY && e.old_tuple() != ChangeEvent::OLD_FULL) {
    return Status::Corruption("delete carries no old key (old_tuple " +
                              std::to_string(e.old_tuple()) + ")");
  }
  Statement st;
  Builder b(table, &st);
  FERRY_ASSIGN_OR_RETURN(Identity id, ChooseIdentity(e, table));
  FERRY_ASSIGN_OR_RETURN(std::string where, Locate(id, e.old_columns(), "the old key", table, b));
  st.sql = "DELETE FROM " + table.QualifiedName() + " WHERE " + where + " RETURNING true";
  st.check = ResultCheck::kNoRowIsConflict;
  st.conflict = ConflictKind::kDeleteMissing;
  st.resolution = Resolution::kSkipped;
  return st;
}

}  // namespace

Result<Statement> BuildStatement(const ChangeEvent& e, const TableInfo& table, ConflictRule rule) {
  switch (e.op()) {
    case ferry::v1::OP_INSERT:
    case ferry::v1::OP_READ: return BuildInsert(e, table, rule);
    case ferry::v1::OP_UPDATE:
      // The new half of a key change: its row is expected to be missing.
      if (e.key_changed()) return BuildInsert(e, table, rule);
      return BuildUpdate(e, table, rule);
    case ferry::v1::OP_DELETE: return BuildDelete(e, table);
    default: return Status::Corruption("unknown operation " + std::to_string(e.op()));
  }
}

Statement BuildTruncate(const std::vector<const TableInfo*>& tables,
                        const ferry::v1::TruncateOptions& options) {
  Statement st;
  st.sql = "TRUNCATE ";
  for (size_t i = 0; i < tables.size(); ++i) {
    if (i > 0) st.sql += ", ";
    st.sql += tables[i]->QualifiedName();
  }
  if (options.restart_identity()) st.sql += " RESTART IDENTITY";
  if (options.cascade()) st.sql += " CASCADE";
  return st;
}

Statement BuildCopyClear(const TableInfo& table) {
  Statement st;
  // ONLY: an inheritance child is a table of its own, copied as itself; a
  // partitioned table holds its rows in its partitions.
  st.sql = "DELETE FROM " + std::string(table.partitioned ? "" : "ONLY ") + table.QualifiedName();
  return st;
}

int64_t ConflictsIn(ResultCheck check, uint32_t events, const PGresult* rows) {
  const int n = PQntuples(rows);
  switch (check) {
    case ResultCheck::kNone: return 0;
    case ResultCheck::kNoRowIsConflict: return std::max<int64_t>(0, int64_t{events} - n);
    case ResultCheck::kRowIsConflict: return n;
    case ResultCheck::kFalseIsConflict: {
      int64_t conflicts = 0;
      for (int i = 0; i < n; ++i) conflicts += PQgetvalue(rows, i, 0)[0] == 'f';
      return conflicts;
    }
  }
  return 0;
}

std::string_view OperationName(ferry::v1::Operation op) {
  switch (op) {
    case ferry::v1::OP_INSERT:
    case ferry::v1::OP_INSERT_ROWS: return "INSERT";
    case ferry::v1::OP_UPDATE: return "UPDATE";
    case ferry::v1::OP_DELETE: return "DELETE";
    case ferry::v1::OP_TRUNCATE: return "TRUNCATE";
    case ferry::v1::OP_READ:
    case ferry::v1::OP_READ_ROWS: return "READ";
    case ferry::v1::OP_END: return "END";
    default: return "UNKNOWN";
  }
}

std::string DescribeEvent(const ChangeEvent& e) {
  if (e.op() == ferry::v1::OP_END) {
    return "end of the transaction at commit LSN " + Lsn(e.commit_lsn()).ToString() + " (" +
           std::to_string(e.unit_events()) + " events)";
  }
  const std::string rows =
      transport::IsRowBatch(e.op()) ? " of " + std::to_string(e.row_count()) + " rows" : std::string();
  return std::string(OperationName(e.op())) + rows + " on " + QualifiedName(e.schema(), e.table()) +
         " at commit LSN " + Lsn(e.commit_lsn()).ToString() + " (event " +
         std::to_string(e.index_in_tx()) + " of its transaction)";
}

}  // namespace ferry::apply
