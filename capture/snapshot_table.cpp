#include "capture/snapshot_table.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

#include "common/copy_text.h"
#include "transport/naming.h"
#include "transport/row_batch.h"

namespace ferry::capture {

namespace {

// int2vector text form: "1 3".
std::vector<int> ParseAttnums(const std::string& text) {
  std::vector<int> out;
  std::istringstream in(text);
  for (int n; in >> n;) out.push_back(n);
  return out;
}

Status LoadColumns(const PgConn& conn, const std::string& oid, SnapshotTable* t, std::vector<int>* attnums) {
  // Generated columns are not replicated (pgoutput does not send them either).
  FERRY_ASSIGN_OR_RETURN(
      PgResult r, conn.ExecParams("SELECT attnum, attname, atttypid, atttypmod, format_type(atttypid, NULL) "
                                  "FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped "
                                  "AND attgenerated = '' ORDER BY attnum",
                                  {oid}));
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    attnums->push_back(std::stoi(PQgetvalue(r.get(), i, 0)));
    t->columns.push_back(SnapshotColumn{PQgetvalue(r.get(), i, 1),
                                        static_cast<uint32_t>(std::stoul(PQgetvalue(r.get(), i, 2))),
                                        std::stoi(PQgetvalue(r.get(), i, 3)), PQgetvalue(r.get(), i, 4), false});
  }
  return Status::OK();
}

// The publication's tables with their column lists (JSON arrays of names) and
// row filters; PostgreSQL 14 and older have neither (NULLs).
Result<PgResult> QueryPublished(const PgConn& conn, const std::string& publication, const std::string& schema,
                                const std::string& table) {
  FERRY_ASSIGN_OR_RETURN(std::string v15, conn.QueryScalar("SELECT current_setting('server_version_num')::int >= 150000"));
  std::string sql = std::string("SELECT schemaname, tablename, ") +
                    (v15 == "t" ? "array_to_json(attnames)::text, rowfilter" : "NULL, NULL") +
                    " FROM pg_publication_tables WHERE pubname = $1";
  std::vector<PgParam> params{publication};
  if (!table.empty()) {
    sql += " AND schemaname = $2 AND tablename = $3";
    params.insert(params.end(), {schema, table});
  }
  return conn.ExecParams(sql + " ORDER BY 1, 2", params);
}

// Keeps the columns the publication publishes, in the table's order. A key
// left incomplete cannot order chunks; its published columns stay marked key,
// as pgoutput marks them.
Status RestrictColumns(SnapshotTable* t, const std::string& json_names) {
  std::vector<std::string> names;
  try {
    names = nlohmann::json::parse(json_names).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption("column list of " + t->Display() + " in the publication: " + e.what());
  }
  std::vector<SnapshotColumn> kept;
  std::vector<int> moved_to(t->columns.size(), -1);
  for (size_t i = 0; i < t->columns.size(); ++i) {
    if (std::find(names.begin(), names.end(), t->columns[i].name) == names.end()) continue;
    moved_to[i] = static_cast<int>(kept.size());
    kept.push_back(std::move(t->columns[i]));
  }
  std::vector<size_t> key_order;
  for (size_t i : t->key_order) {
    if (moved_to[i] < 0) {
      key_order.clear();
      break;
    }
    key_order.push_back(static_cast<size_t>(moved_to[i]));
  }
  t->columns = std::move(kept);
  t->key_order = std::move(key_order);
  return Status::OK();
}

Result<SnapshotTable> Published(const PgConn& conn, const PGresult* r, int row) {
  FERRY_ASSIGN_OR_RETURN(SnapshotTable t, LoadSnapshotTable(conn, PQgetvalue(r, row, 0), PQgetvalue(r, row, 1)));
  if (!PQgetisnull(r, row, 2)) FERRY_RETURN_IF_ERROR(RestrictColumns(&t, PQgetvalue(r, row, 2)));
  if (!PQgetisnull(r, row, 3)) t.row_filter = PQgetvalue(r, row, 3);
  return t;
}

// The planner's row count for a scan of `t` (its own rows, or a partitioned
// table's partitions'), from its size on disk: what PostgreSQL itself assumes
// of a table never vacuumed nor analyzed.
Result<double> PlannerRowEstimate(const PgConn& conn, const SnapshotTable& t) {
  FERRY_ASSIGN_OR_RETURN(std::string plan,
                         conn.QueryScalar("EXPLAIN (FORMAT JSON) SELECT 1 FROM " +
                                          std::string(t.partitioned ? "" : "ONLY ") + QualifiedName(t.schema, t.name)));
  try {
    return nlohmann::json::parse(plan).at(0).at("Plan").at("Plan Rows").get<double>();
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption("the plan of a scan of " + t.Display() + ": " + e.what());
  }
}

}  // namespace

Result<SnapshotTable> LoadSnapshotTable(const PgConn& conn, const std::string& schema, const std::string& table) {
  FERRY_ASSIGN_OR_RETURN(
      PgResult rel, conn.ExecParams("SELECT c.oid, c.relreplident, c.reltuples::bigint, c.relkind "
                                    "FROM pg_class c "
                                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                    "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
                                    {schema, table}));
  if (PQntuples(rel.get()) == 0) return Status::NotFound("table " + schema + "." + table + " does not exist");
  SnapshotTable t;
  t.schema = schema;
  t.name = table;
  const std::string oid = PQgetvalue(rel.get(), 0, 0);
  const std::string identity = PQgetvalue(rel.get(), 0, 1);
  t.estimated_rows = std::stod(PQgetvalue(rel.get(), 0, 2));
  t.partitioned = std::string(PQgetvalue(rel.get(), 0, 3)) == "p";
  // reltuples is -1 until the first VACUUM or ANALYZE: a table just restored
  // or loaded. Taken as 0, its copy would be one part, read by one worker, and
  // its progress 100% from the first row.
  if (t.estimated_rows < 0) {
    FERRY_ASSIGN_OR_RETURN(t.estimated_rows, PlannerRowEstimate(conn, t));
  }
  std::vector<int> attnums;
  FERRY_RETURN_IF_ERROR(LoadColumns(conn, oid, &t, &attnums));
  FERRY_ASSIGN_OR_RETURN(
      PgResult idx, conn.ExecParams("SELECT indkey::text FROM pg_index WHERE indrelid = $1 AND "
                                    "CASE $2 WHEN 'i' THEN indisreplident ELSE indisprimary END",
                                    {oid, identity}));
  t.full_identity = identity == "f";
  if (t.full_identity) {
    for (auto& c : t.columns) c.is_key = true;  // as pgoutput marks them
  }
  if (PQntuples(idx.get()) == 0) {
    if (t.full_identity) return t;  // keyless: read whole, inside the exported snapshot
    return Status::InvalidArgument("table " + t.Display() + " has no primary key (nor a REPLICA IDENTITY USING INDEX "
                                   "index, nor REPLICA IDENTITY FULL): add a primary key, or leave the table out "
                                   "of the publication");
  }
  for (int attnum : ParseAttnums(PQgetvalue(idx.get(), 0, 0))) {
    size_t i = 0;
    while (i < attnums.size() && attnums[i] != attnum) ++i;
    if (i == attnums.size()) return Status::InvalidArgument("table " + t.Display() + ": key on an expression");
    if (!t.full_identity) t.columns[i].is_key = true;
    t.key_order.push_back(i);
  }
  return t;
}

Status RequireKey(const SnapshotTable& t, const std::string& why) {
  if (t.keyless()) {
    return Status::InvalidArgument(why + ": table " + t.Display() +
                                   " has no primary key (REPLICA IDENTITY FULL), so its rows cannot be read in "
                                   "key ranges nor told apart from the stream's; give it a primary key");
  }
  if (t.full_identity) {
    // The watermark window tells a chunk's rows from the stream's by their
    // Kafka key, and every event of a FULL table carries the table's.
    return Status::InvalidArgument(why + ": table " + t.Display() +
                                   " has REPLICA IDENTITY FULL, so the stream's changes of its rows cannot be "
                                   "matched to a chunk's rows; ALTER TABLE ... REPLICA IDENTITY DEFAULT (it has a "
                                   "primary key) first");
  }
  return Status::OK();
}

Result<SnapshotTable> LoadPublishedTable(const PgConn& conn, const std::string& publication,
                                         const std::string& schema, const std::string& table) {
  FERRY_ASSIGN_OR_RETURN(PgResult r, QueryPublished(conn, publication, schema, table));
  if (PQntuples(r.get()) == 0) {
    return Status::NotFound("publication \"" + publication + "\" does not publish " + schema + "." + table);
  }
  return Published(conn, r.get(), 0);
}

Result<std::vector<SnapshotTable>> LoadPublicationTables(const PgConn& conn, const std::string& publication) {
  FERRY_ASSIGN_OR_RETURN(PgResult r, QueryPublished(conn, publication, "", ""));
  std::vector<SnapshotTable> tables;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    FERRY_ASSIGN_OR_RETURN(SnapshotTable t, Published(conn, r.get(), i));
    tables.push_back(std::move(t));
  }
  return tables;
}

namespace {

std::string SelectFrom(const SnapshotTable& t) {
  std::string sql = "SELECT ";
  for (size_t i = 0; i < t.columns.size(); ++i) sql += (i ? ", " : "") + QuoteIdent(t.columns[i].name);
  // ONLY: an inheritance child is a table of its own (published and copied as
  // itself); a partitioned table's rows are all in its partitions.
  sql += t.partitioned ? " FROM " : " FROM ONLY ";
  return sql + QualifiedName(t.schema, t.name);
}

std::string Where(const SnapshotTable& t, std::vector<std::string> where) {
  if (!t.row_filter.empty()) where.insert(where.begin(), "(" + t.row_filter + ")");
  std::string sql;
  for (size_t i = 0; i < where.size(); ++i) sql += (i ? " AND " : " WHERE ") + where[i];
  return sql;
}

}  // namespace

namespace {

// The chunk query, with `bound(n)` standing for its n-th bound ($n).
std::string ChunkQuery(const SnapshotTable& t, bool after_key, int64_t limit, bool bounded,
                       const std::function<std::string(size_t)>& bound) {
  if (t.keyless()) return SelectFrom(t) + Where(t, {});
  std::string keys, after, upper;
  const size_t k = t.key_order.size();
  for (size_t i = 0; i < k; ++i) {
    keys += (i ? ", " : "") + QuoteIdent(t.columns[t.key_order[i]].name);
    if (i > 0) {
      after += ", ";
      upper += ", ";
    }
    after += bound(i + 1);
    upper += bound(i + 1 + (after_key ? k : 0));
  }
  std::vector<std::string> where;
  // A one-column "row" is just the value: (k) > ($1) is k > $1.
  if (after_key) where.push_back("(" + keys + ") > (" + after + ")");
  if (bounded) where.push_back("(" + keys + ") <= (" + upper + ")");
  return SelectFrom(t) + Where(t, where) + " ORDER BY " + keys + " LIMIT " + std::to_string(limit);
}

// Strings here are built by appending: `"x" + std::to_string(n)` trips GCC
// 12's false -Wrestrict at -O3 (its bug 105329).
std::string ChunkSetting(size_t n) {
  std::string name = "ferry.chunk_bound_";
  name += std::to_string(n);
  return name;
}

std::string Parameter(size_t n) {
  std::string p = "$";
  p += std::to_string(n);
  return p;
}

}  // namespace

std::string BuildChunkQuery(const SnapshotTable& t, bool after_key, int64_t limit, bool bounded) {
  return ChunkQuery(t, after_key, limit, bounded, Parameter);
}

std::string BuildChunkCopy(const SnapshotTable& t, bool after_key, int64_t limit, bool bounded) {
  const size_t k = std::max<size_t>(1, t.key_order.size());
  return "COPY (" + ChunkQuery(t, after_key, limit, bounded, [&](size_t n) {
           // The key column's own type: its input function reads the text, as
           // for a parameter compared with the column.
           std::string bound = "CAST(current_setting(";
           bound += QuoteLiteral(ChunkSetting(n));
           bound += ") AS ";
           bound += t.columns[t.key_order[(n - 1) % k]].type_name;
           bound += ")";
           return bound;
         }) + ") TO STDOUT";
}

std::string BuildChunkBoundsQuery(size_t bounds) {
  std::string sql = "SELECT ";
  for (size_t n = 1; n <= bounds; ++n) {
    if (n > 1) sql += ", ";
    sql += "set_config(";
    sql += QuoteLiteral(ChunkSetting(n));
    sql += ", ";
    sql += Parameter(n);
    sql += ", false)";
  }
  return sql;
}

std::string BuildPageRangeQuery(const SnapshotTable& t, bool bounded) {
  std::vector<std::string> where{"ctid >= $1::tid"};
  if (bounded) where.push_back("ctid < $2::tid");
  return SelectFrom(t) + Where(t, where);
}

ferry::v1::ChangeEvent ReadEventOf(const SnapshotTable& t, const PGresult* result, int row,
                                   const std::string& database) {
  ferry::v1::ChangeEvent e;
  FillReadEvent(t, result, row, database, e);
  return e;
}

namespace {

// Table, operation and column definitions of a snapshot event, no values.
void FillHead(const SnapshotTable& t, const std::string& database, ferry::v1::Operation op,
              ferry::v1::ChangeEvent& e) {
  e.Clear();
  e.set_source_database(database);
  e.set_schema(t.schema);
  e.set_table(t.name);
  e.set_op(op);
  for (const auto& c : t.columns) {
    if (c.is_key) e.add_key_columns(c.name);
  }
  for (const SnapshotColumn& def : t.columns) {
    ferry::v1::Column* c = e.add_columns();
    c->set_name(def.name);
    c->set_type_oid(def.type_oid);
    c->set_type_name(def.type_name);
    c->set_type_modifier(def.type_modifier);
    c->set_is_key(def.is_key);
  }
}

}  // namespace

void FillReadEvent(const SnapshotTable& t, const PGresult* result, int row, const std::string& database,
                   ferry::v1::ChangeEvent& e) {
  FillHead(t, database, ferry::v1::OP_READ, e);
  for (int col = 0; col < e.columns_size(); ++col) {
    ferry::v1::Column* c = e.mutable_columns(col);
    if (PQgetisnull(result, row, col)) {
      c->set_kind(ferry::v1::Column::KIND_NULL);
    } else {
      c->set_kind(ferry::v1::Column::KIND_TEXT);
      c->set_value(PQgetvalue(result, row, col), PQgetlength(result, row, col));
    }
  }
}

namespace {

// Appends `row` of `result` to `out` in COPY's text format.
void AppendCopyRow(const SnapshotTable& t, const PGresult* result, int row, std::string& out) {
  AppendCopyLine(out, t.columns.size(), [&](size_t i) -> std::optional<std::string_view> {
    const int col = static_cast<int>(i);
    if (PQgetisnull(result, row, col)) return std::nullopt;
    return std::string_view(PQgetvalue(result, row, col), static_cast<size_t>(PQgetlength(result, row, col)));
  });
}

}  // namespace

RowsEventWriter::RowsEventWriter(const SnapshotTable& t, const std::string& database, std::string& text,
                                 std::function<Status(ferry::v1::ChangeEvent&)> emit)
    : text_(text), emit_(std::move(emit)) {
  FillHead(t, database, ferry::v1::OP_READ_ROWS, head_);
  text_.clear();
}

Status RowsEventWriter::Added() {
  ++rows_;
  return text_.size() < transport::kRowBatchBytes ? Status::OK() : Emit();
}

Status RowsEventWriter::Finish() { return rows_ == 0 ? Status::OK() : Emit(); }

Status RowsEventWriter::Emit() {
  ferry::v1::ChangeEvent e = head_;  // rows not copied: emit_ may take them
  transport::SetBatchRows(e, text_, rows_);
  text_.clear();
  rows_ = 0;
  return emit_(e);
}

Status ForEachRowsEvent(const SnapshotTable& t, const PGresult* result, const std::string& database,
                        std::string& text, const std::function<Status(ferry::v1::ChangeEvent&)>& emit) {
  RowsEventWriter writer(t, database, text, emit);
  for (int row = 0; row < PQntuples(result); ++row) {
    AppendCopyRow(t, result, row, writer.text());
    FERRY_RETURN_IF_ERROR(writer.Added());
  }
  return writer.Finish();
}

std::string KafkaKeyOf(const SnapshotTable& t, const PGresult* result, int row) {
  if (t.full_identity) return transport::TableKey(t.schema, t.name);
  std::vector<transport::KeyValue> key;
  for (size_t i = 0; i < t.columns.size(); ++i) {
    if (!t.columns[i].is_key) continue;
    const int col = static_cast<int>(i);
    key.emplace_back(t.columns[i].name, std::string(PQgetvalue(result, row, col), PQgetlength(result, row, col)));
  }
  return transport::EncodeRowKey(key);
}

KeyValues KeyOf(const SnapshotTable& t, const PGresult* result, int row) {
  KeyValues key;
  for (size_t i : t.key_order) {
    const int col = static_cast<int>(i);
    key.emplace_back(PQgetvalue(result, row, col), PQgetlength(result, row, col));
  }
  return key;
}

Result<KeyValues> KeyOfCopyRow(const SnapshotTable& t, std::string_view line) {
  KeyValues key;
  FERRY_RETURN_IF_ERROR(ReadCopyRows(line, t.columns.size(), [&](CopyRow& row) {
    for (size_t i : t.key_order) {
      if (!row[i]) return Status::Corruption("a NULL in key column " + t.columns[i].name + " of " + t.Display());
      key.push_back(std::move(*row[i]));
    }
    return Status::OK();
  }));
  return key;
}

// Built by appending: `"(" + std::string&&` trips GCC 12's false -Wrestrict
// at -O3 (its bug 105329).
std::string FirstTidOfPage(int64_t page) {
  std::string tid = "(";
  tid += std::to_string(page);
  tid += ",0)";
  return tid;
}

}  // namespace ferry::capture
