#include "reconcile/validate_repair.h"

#include <libpq-fe.h>

#include <unordered_map>

namespace ferry::reconcile {

namespace {

constexpr size_t kRowsPerBatch = 500;

using ferry::v1::ChangeEvent;
using ferry::v1::Column;

ChangeEvent BaseEvent(const ValidatedTable& t, ferry::v1::Operation op) {
  ChangeEvent e;
  e.set_schema(t.name.schema);
  e.set_table(t.name.table);
  e.set_op(op);
  for (const auto& k : t.key_columns) e.add_key_columns(k);
  return e;
}

void AddColumn(google::protobuf::RepeatedPtrField<Column>* cols, const std::string& name,
               const char* value, bool is_key) {
  Column* c = cols->Add();
  c->set_name(name);
  c->set_is_key(is_key);
  c->set_kind(value ? Column::KIND_TEXT : Column::KIND_NULL);
  if (value) c->set_value(value);
}

ChangeEvent DeleteEvent(const ValidatedTable& t, const KeyValues& key) {
  ChangeEvent e = BaseEvent(t, ferry::v1::OP_DELETE);
  e.set_old_tuple(ChangeEvent::OLD_KEY);
  for (size_t i = 0; i < key.size(); ++i) {
    AddColumn(e.mutable_old_columns(), t.key_columns[i], key[i].c_str(), true);
  }
  return e;
}

// The source rows of `keys` as READ events, by key.
Result<std::unordered_map<std::string, ChangeEvent>> ReadSourceRows(
    const PgConn& source, const ValidatedTable& t, const std::vector<KeyValues>& keys) {
  std::unordered_map<std::string, ChangeEvent> out;
  if (keys.empty()) return out;
  std::vector<PgParam> params;
  std::string cols, key_cols;
  for (const auto& c : t.written_columns) cols += (cols.empty() ? "" : ", ") + QuoteIdent(c);
  for (const auto& k : t.key_columns) key_cols += ", " + QuoteIdent(k);
  std::string sql = "SELECT " + cols + key_cols + " FROM " + t.From() + " WHERE " +
                    KeyInList(t, keys, &params);
  FERRY_ASSIGN_OR_RETURN(PgResult r, source.ExecParams(sql, params));
  int ncols = static_cast<int>(t.written_columns.size());
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    ChangeEvent e = BaseEvent(t, ferry::v1::OP_READ);
    KeyValues key;
    for (size_t k = 0; k < t.key_columns.size(); ++k) {
      key.emplace_back(PQgetvalue(r.get(), i, ncols + static_cast<int>(k)));
    }
    for (int c = 0; c < ncols; ++c) {
      const std::string& name = t.written_columns[c];
      bool is_key = std::find(t.key_columns.begin(), t.key_columns.end(), name) != t.key_columns.end();
      AddColumn(e.mutable_columns(), name,
                PQgetisnull(r.get(), i, c) ? nullptr : PQgetvalue(r.get(), i, c), is_key);
    }
    out.emplace(KeyId(key), std::move(e));
  }
  return out;
}

Status RepairBatch(const PgConn& source, apply::TargetWriter& writer, const ValidatedTable& t,
                   const std::vector<RowMismatch>& batch, RepairCounts* counts) {
  std::vector<KeyValues> keys;
  for (const auto& m : batch) {
    if (m.problem != RowProblem::kExtra) keys.push_back(m.key);
  }
  FERRY_ASSIGN_OR_RETURN(auto rows, ReadSourceRows(source, t, keys));
  std::vector<ChangeEvent> events;
  for (const auto& m : batch) {
    auto it = m.problem == RowProblem::kExtra ? rows.end() : rows.find(KeyId(m.key));
    events.push_back(it != rows.end() ? std::move(it->second) : DeleteEvent(t, m.key));
    (it != rows.end() ? counts->upserted : counts->deleted)++;
  }
  return writer.ApplyBatch(events);
}

}  // namespace

bool RepairWrites(RowProblem p, apply::ConflictRule rule) {
  return rule != apply::ConflictRule::kNone || p == RowProblem::kMissing;
}

Result<RepairCounts> RepairRows(const PgConn& source, apply::TargetWriter& writer,
                                const ValidatedTable& t, const std::vector<RowMismatch>& rows,
                                apply::ConflictRule rule) {
  if (!t.HasKey()) {
    return Status::InvalidArgument("table " + t.name.Display() +
                                   " has no primary key or NOT NULL unique index: not repaired");
  }
  RepairCounts counts;
  std::vector<RowMismatch> batch;
  for (size_t i = 0; i <= rows.size(); ++i) {
    if (batch.size() == kRowsPerBatch || (i == rows.size() && !batch.empty())) {
      FERRY_RETURN_IF_ERROR(RepairBatch(source, writer, t, batch, &counts)
                                .WithContext("repairing " + t.name.Display()));
      batch.clear();
    }
    if (i == rows.size()) break;
    if (RepairWrites(rows[i].problem, rule)) {
      batch.push_back(rows[i]);
    } else {
      counts.skipped++;
    }
  }
  return counts;
}

}  // namespace ferry::reconcile
