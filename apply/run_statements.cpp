#include "apply/run_statements.h"

#include "apply/statement_parts.h"
#include "common/pg.h"

namespace ferry::apply {

namespace {

using ferry::v1::ChangeEvent;
using ferry::v1::Column;

enum class RunKind : char { kNone = 0, kInsert = 'I', kUpdate = 'U', kDelete = 'D' };

RunKind KindOf(const ChangeEvent& e) {
  switch (e.op()) {
    case ferry::v1::OP_INSERT:
    case ferry::v1::OP_READ: return RunKind::kInsert;
    case ferry::v1::OP_UPDATE:
      // The new half of a key change is planned as an insert (statement_builder.h).
      if (e.key_changed()) return RunKind::kInsert;
      return e.old_tuple() == ChangeEvent::OLD_FULL ? RunKind::kNone : RunKind::kUpdate;
    case ferry::v1::OP_DELETE: return RunKind::kDelete;
    default: return RunKind::kNone;
  }
}

// A value that can travel inside a text array: text or NULL.
bool ArrayValue(const Column& c) {
  return c.kind() == Column::KIND_TEXT || c.kind() == Column::KIND_NULL;
}

bool KeyValue(const Column* c) {
  return c != nullptr && c->kind() == Column::KIND_TEXT && c->value().find('\0') == std::string::npos;
}

}  // namespace

Names WrittenColumns(const ChangeEvent& e, const TableInfo& table) {
  Names names;
  for (const auto& c : e.columns()) {
    if (c.kind() == Column::KIND_UNCHANGED_TOAST) continue;
    const ColumnInfo* target = table.FindColumn(c.name());
    if (target == nullptr || !ArrayValue(c) || c.value().find('\0') != std::string::npos) return {};
    if (target->generated) continue;
    if (target->array_type_oid == 0) return {};
    names.push_back(c.name());
  }
  return names;
}

namespace {

// The columns whose values locate the row, and where they are carried.
const Columns& KeySource(const ChangeEvent& e) {
  return e.op() == ferry::v1::OP_DELETE ? e.old_columns() : e.columns();
}

bool KeysCarried(const ChangeEvent& e, const Identity& id, const TableInfo& table) {
  for (const auto& k : id.key) {
    const ColumnInfo* target = table.FindColumn(k);
    if (!KeyValue(FindColumn(KeySource(e), k)) || target == nullptr || target->array_type_oid == 0) return false;
  }
  return true;
}

// {"a","b\"c",NULL}: the array literal of one column's values.
void AppendElement(std::string& out, const Column* c) {
  if (out.size() > 1) out += ',';
  if (c == nullptr || c->kind() == Column::KIND_NULL) {
    out += "NULL";
    return;
  }
  out += '"';
  for (char ch : c->value()) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  out += '"';
}

class RunBuilder {
 public:
  RunBuilder(std::span<const ChangeEvent* const> events, const TableInfo& table, Statement& st)
      : events_(events), table_(table), st_(st) {}

  // Adds one array parameter per column (values from `from`); `x.cols` names them.
  void AddArrays(const Names& columns, bool from_old) {
    for (const auto& name : columns) {
      std::string array = "{";
      for (const ChangeEvent* e : events_) {
        AppendElement(array, FindColumn(from_old ? e->old_columns() : e->columns(), name));
      }
      array += '}';
      st_.owned.push_back(std::move(array));
      st_.param_types.push_back(table_.FindColumn(name)->array_type_oid);
      placeholders_ += placeholders_.empty() ? "$" : ", $";
      placeholders_ += std::to_string(st_.owned.size());
    }
    aliases_.insert(aliases_.end(), columns.begin(), columns.end());
  }
  // `unnest($1, $2) AS ferry_x("a", "b")`
  std::string Unnest() const { return "unnest(" + placeholders_ + ") AS ferry_x(" + QuoteIdentList(aliases_) + ")"; }
  // Points the parameters at the arrays, once all are built.
  void Finish() {
    for (const auto& a : st_.owned) {
      st_.params.push_back(a.c_str());
      st_.param_lengths.push_back(static_cast<int>(a.size()));
      st_.param_formats.push_back(0);
    }
    st_.events = static_cast<uint32_t>(events_.size());
  }

 private:
  std::span<const ChangeEvent* const> events_;
  const TableInfo& table_;
  Statement& st_;
  std::string placeholders_;
  Names aliases_;
};

// `ferry_x."a", ferry_x."b"`
std::string Qualified(const std::string& alias, const Names& columns) {
  std::string out;
  for (const auto& c : columns) out += (out.empty() ? "" : ", ") + alias + "." + QuoteIdent(c);
  return out;
}

// `ferry_t."k1" = ferry_x."k1" AND ..`
std::string KeyMatch(const std::string& left, const std::string& right, const Names& key) {
  std::string out;
  for (const auto& k : key) {
    out += (out.empty() ? "" : " AND ") + left + "." + QuoteIdent(k) + " = " + right + "." + QuoteIdent(k);
  }
  return out;
}

// `"c" = ferry_x."c", ..` for settable, non-key written columns.
std::string SetFromRun(const Names& columns, const Names& key, const TableInfo& table) {
  std::string out;
  for (const auto& c : columns) {
    if (Contains(key, c) || table.FindColumn(c)->identity_always) continue;
    out += (out.empty() ? "" : ", ") + QuoteIdent(c) + " = ferry_x." + QuoteIdent(c);
  }
  if (out.empty()) out = QuoteIdent(key[0]) + " = ferry_x." + QuoteIdent(key[0]);  // a no-op update
  return out;
}

Result<Statement> BuildInsertRun(std::span<const ChangeEvent* const> events, const TableInfo& table,
                                 ConflictRule rule, const Identity& id) {
  Statement st;
  RunBuilder b(events, table, st);
  const Names columns = WrittenColumns(*events[0], table);
  b.AddArrays(columns, false);
  st.sql = InsertInto(table, columns) + " SELECT " + Qualified("ferry_x", columns) + " FROM " + b.Unnest();
  b.Finish();
  if (!id.row_mode()) AppendOnConflict(table, id, columns, rule, &st);  // row mode: nothing to conflict with
  return st;
}

Result<Statement> BuildUpdateRun(std::span<const ChangeEvent* const> events, const TableInfo& table,
                                 ConflictRule rule, const Identity& id) {
  Statement st;
  RunBuilder b(events, table, st);
  const Names columns = WrittenColumns(*events[0], table);
  Names arrays = id.key;  // the key, then the other written columns
  for (const auto& c : columns) {
    if (!Contains(id.key, c)) arrays.push_back(c);
  }
  b.AddArrays(arrays, false);
  const std::string t = table.QualifiedName() + " AS ferry_t";
  const std::string set = SetFromRun(columns, id.key, table);
  st.conflict = ConflictKind::kUpdateMissing;
  if (rule == ConflictRule::kNone) {
    st.sql = "UPDATE " + t + " SET " + set + " FROM " + b.Unnest() + " WHERE " +
             KeyMatch("ferry_t", "ferry_x", id.key) + " RETURNING true";
    st.check = ResultCheck::kNoRowIsConflict;
    st.resolution = Resolution::kSkipped;
  } else {
    // A missing row is inserted from the event (carried columns, target defaults for the rest).
    st.sql = "WITH ferry_x AS (SELECT * FROM " + b.Unnest() + "), ferry_u AS (UPDATE " + t + " SET " + set +
             " FROM ferry_x WHERE " + KeyMatch("ferry_t", "ferry_x", id.key) + " RETURNING " +
             Qualified("ferry_t", id.key) + ") " + InsertInto(table, columns) + " SELECT " +
             Qualified("ferry_x", columns) + " FROM ferry_x WHERE NOT EXISTS (SELECT FROM ferry_u WHERE " +
             KeyMatch("ferry_u", "ferry_x", id.key) + ") RETURNING true";
    st.check = ResultCheck::kRowIsConflict;
    st.resolution = Resolution::kInserted;
  }
  b.Finish();
  return st;
}

Result<Statement> BuildDeleteRun(std::span<const ChangeEvent* const> events, const TableInfo& table,
                                 const Identity& id) {
  Statement st;
  RunBuilder b(events, table, st);
  b.AddArrays(id.key, true);
  st.sql = "DELETE FROM " + table.QualifiedName() + " AS ferry_t USING " + b.Unnest() + " WHERE " +
           KeyMatch("ferry_t", "ferry_x", id.key) + " RETURNING true";
  st.check = ResultCheck::kNoRowIsConflict;
  st.conflict = ConflictKind::kDeleteMissing;
  st.resolution = Resolution::kSkipped;
  b.Finish();
  return st;
}

}  // namespace

std::string RunKey(const ChangeEvent& e, const TableInfo& table) {
  const RunKind kind = KindOf(e);
  if (kind == RunKind::kNone) return "";
  Result<Identity> id = ChooseIdentity(e, table);
  if (!id.ok()) return "";
  if (!id->row_mode() && !KeysCarried(e, *id, table)) return "";
  std::string key(1, static_cast<char>(kind));
  key += table.QualifiedName();
  if (kind == RunKind::kDelete) {
    if (id->row_mode()) return "";
    for (const auto& k : id->key) key += '\0' + k;
    return key;
  }
  // An UPDATE .. FROM may reorder rows: only where no other unique index could see it.
  if (kind == RunKind::kUpdate && (id->row_mode() || table.unique_indexes != 1)) return "";
  Names columns = WrittenColumns(e, table);
  if (columns.empty()) return "";
  for (const auto& c : columns) key += '\0' + c;
  key += '\x01';
  for (const auto& k : id->key) key += '\0' + k;
  return key;
}

namespace {

bool SameColumns(const Columns& a, const Columns& b) {
  if (a.size() != b.size()) return false;
  for (int i = 0; i < a.size(); ++i) {
    const Column& x = a.Get(i);
    const Column& y = b.Get(i);
    if (x.kind() != y.kind() || x.is_key() != y.is_key() || x.name() != y.name() ||
        y.value().find('\0') != std::string::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool SameRunShape(const ChangeEvent& a, const ChangeEvent& b) {
  if (a.op() != b.op() || a.key_changed() != b.key_changed() || a.old_tuple() != b.old_tuple() ||
      a.schema() != b.schema() || a.table() != b.table() || a.key_columns_size() != b.key_columns_size()) {
    return false;
  }
  for (int i = 0; i < a.key_columns_size(); ++i) {
    if (a.key_columns(i) != b.key_columns(i)) return false;
  }
  return SameColumns(a.columns(), b.columns()) && SameColumns(a.old_columns(), b.old_columns());
}

std::string RunRow(const ChangeEvent& e, const TableInfo& table) {
  Result<Identity> id = ChooseIdentity(e, table);
  if (!id.ok() || id->row_mode()) return "";
  std::string row;
  for (const auto& k : id->key) {
    const Column* c = FindColumn(KeySource(e), k);
    row += c->value();
    row += '\0';
  }
  return row;
}

Result<Statement> BuildRunStatement(std::span<const ChangeEvent* const> events, const TableInfo& table,
                                    ConflictRule rule) {
  FERRY_ASSIGN_OR_RETURN(Identity id, ChooseIdentity(*events[0], table));
  switch (KindOf(*events[0])) {
    case RunKind::kInsert: return BuildInsertRun(events, table, rule, id);
    case RunKind::kUpdate: return BuildUpdateRun(events, table, rule, id);
    case RunKind::kDelete: return BuildDeleteRun(events, table, id);
    default: return Status::Internal("no run statement for " + DescribeEvent(*events[0]));
  }
}

}  // namespace ferry::apply
