#include "reconcile/sequences.h"

#include <libpq-fe.h>

#include "reconcile/validate_table.h"

namespace ferry::reconcile {

namespace {

Result<std::vector<SequenceValue>> ListSequences(const PgConn& source) {
  FERRY_ASSIGN_OR_RETURN(auto names, ListUserRelations(source, "S"));
  std::vector<SequenceValue> out;
  for (auto& n : names) out.push_back({std::move(n.schema), std::move(n.table)});
  return out;
}

Status ReadValue(const PgConn& source, SequenceValue* s) {
  FERRY_ASSIGN_OR_RETURN(PgResult r, source.Exec("SELECT last_value, is_called FROM " +
                                                 QualifiedName(s->schema, s->name)));
  s->last_value = std::stoll(PQgetvalue(r.get(), 0, 0));
  s->is_called = PQgetvalue(r.get(), 0, 1)[0] == 't';
  return Status::OK();
}

Status CheckAllOnTarget(const PgConn& target, const std::vector<SequenceValue>& seqs) {
  std::string missing;
  for (const auto& s : seqs) {
    FERRY_ASSIGN_OR_RETURN(
        std::string kind,
        target.QueryScalar("SELECT coalesce((SELECT relkind::text FROM pg_class WHERE oid = "
                           "to_regclass($1)), '')",
                           {QualifiedName(s.schema, s.name)}));
    if (kind != "S") missing += (missing.empty() ? "" : ", ") + s.schema + "." + s.name;
  }
  if (missing.empty()) return Status::OK();
  return Status::InvalidArgument("sequences missing on the target " + target.Describe() + ": " +
                                 missing + " (create them; no sequence was changed)");
}

}  // namespace

Status CopySequences(PgConn& source, PgConn& target, std::vector<SequenceValue>* copied) {
  FERRY_ASSIGN_OR_RETURN(auto seqs, ListSequences(source));
  for (auto& s : seqs) FERRY_RETURN_IF_ERROR(ReadValue(source, &s));
  FERRY_RETURN_IF_ERROR(CheckAllOnTarget(target, seqs));
  for (const auto& s : seqs) {
    FERRY_RETURN_IF_ERROR(target
                              .ExecParams("SELECT setval($1::regclass, $2::bigint, $3::boolean)",
                                          {QualifiedName(s.schema, s.name), std::to_string(s.last_value),
                                           s.is_called ? "true" : "false"})
                              .status()
                              .WithContext("setting sequence " + s.schema + "." + s.name));
  }
  if (copied) *copied = std::move(seqs);
  return Status::OK();
}

}  // namespace ferry::reconcile
