#include "capture/row_fetcher.h"

#include "capture/replication_stream.h"

namespace ferry::capture {

Result<std::optional<RowFetcher::Values>> PgRowFetcher::Fetch(
    const std::string& schema, const std::string& table,
    const std::vector<std::pair<std::string, std::string>>& key, const std::vector<std::string>& columns) {
  if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
    FERRY_ASSIGN_OR_RETURN(conn_, PgConn::Connect(conninfo_, {{"application_name", "ferry-capture"},
                                                              {"options", kTextOutputOptions}}));
  }
  std::string sql = "SELECT ";
  for (size_t i = 0; i < columns.size(); ++i) sql += (i ? ", " : "") + QuoteIdent(columns[i]);
  sql += " FROM " + QualifiedName(schema, table) + " WHERE ";
  std::vector<PgParam> params;
  for (size_t i = 0; i < key.size(); ++i) {
    // Compare in the column's own type: the parameter is cast from its text form.
    sql += (i ? " AND " : "") + QuoteIdent(key[i].first) + " = $" + std::to_string(i + 1);
    params.emplace_back(key[i].second);
  }
  FERRY_ASSIGN_OR_RETURN(PgResult r, conn_.ExecParams(sql, params));
  if (PQntuples(r.get()) == 0) return std::optional<Values>();
  Values values;
  for (int c = 0; c < PQnfields(r.get()); ++c) {
    if (PQgetisnull(r.get(), 0, c)) {
      values.emplace_back(std::nullopt);
    } else {
      values.emplace_back(std::string(PQgetvalue(r.get(), 0, c), PQgetlength(r.get(), 0, c)));
    }
  }
  return std::optional<Values>(std::move(values));
}

}  // namespace ferry::capture
