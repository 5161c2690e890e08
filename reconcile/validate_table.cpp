#include "reconcile/validate_table.h"

#include <libpq-fe.h>

#include <map>
#include <set>

namespace ferry::reconcile {

namespace {

struct ColumnFacts {
  std::string name;
  bool collatable = false;
  bool bytewise = false;  // compares in byte order already
  bool not_null = false;
  bool generated = false;
};

struct Relation {
  std::string oid;
  bool partitioned = false;   // its rows are in its partitions
  bool has_children = false;  // an inheritance parent
};

Result<Relation> ReadRelation(const PgConn& conn, const TableName& name, const char* side) {
  FERRY_ASSIGN_OR_RETURN(
      PgResult r, conn.ExecParams("SELECT c.oid, c.relkind = 'p', EXISTS (SELECT 1 FROM pg_inherits i "
                                  "WHERE i.inhparent = c.oid) FROM pg_class c WHERE c.oid = to_regclass($1)",
                                  {QualifiedName(name.schema, name.table)}));
  if (PQntuples(r.get()) == 0) {
    return Status::InvalidArgument(std::string(side) + " table " + name.Display() +
                                   " does not exist on " + conn.Describe());
  }
  return Relation{PQgetvalue(r.get(), 0, 0), PQgetvalue(r.get(), 0, 1)[0] == 't',
                  PQgetvalue(r.get(), 0, 2)[0] == 't'};
}

// A table's own rows: ONLY, so an inheritance parent's children (tables of
// their own, compared as themselves) are not read with it; but a partitioned
// table is read whole. Both sides are read alike, so a partitioned table on
// one side must not be an inheritance parent on the other.
Status ChooseOnly(const Relation& src, const Relation& tgt, ValidatedTable* t) {
  t->only = !src.partitioned && !tgt.partitioned;
  if (src.partitioned == tgt.partitioned) return Status::OK();
  const Relation& plain = src.partitioned ? tgt : src;
  if (!plain.has_children) return Status::OK();
  return Status::InvalidArgument("table " + t->name.Display() + " is partitioned on the " +
                                 (src.partitioned ? "source" : "target") + " but has inheritance children on the " +
                                 (src.partitioned ? "target" : "source") +
                                 ": validate cannot read the same rows of it on both sides; leave it out with "
                                 "--tables");
}

// Byte order when the column's collation is C/POSIX, or the database default
// and the database's libc locale is C/POSIX or C.UTF-8 (code point order, which
// is byte order in UTF-8).
constexpr const char* kColumnsSql = R"sql(
SELECT a.attname, a.attcollation <> 0, a.attnotnull, a.attgenerated <> '',
       a.attcollation IN (950, 951) OR (a.attcollation = 100 AND EXISTS (
         SELECT 1 FROM pg_database d WHERE d.datname = current_database()
            AND d.datlocprovider = 'c' AND d.datcollate IN ('C', 'POSIX', 'C.UTF-8', 'C.utf8')))
FROM pg_attribute a
WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum)sql";

Result<std::vector<ColumnFacts>> ReadColumns(const PgConn& conn, const std::string& oid) {
  FERRY_ASSIGN_OR_RETURN(PgResult r, conn.ExecParams(kColumnsSql, {oid}));
  std::vector<ColumnFacts> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    auto flag = [&](int col) { return PQgetvalue(r.get(), i, col)[0] == 't'; };
    out.push_back({PQgetvalue(r.get(), i, 0), flag(1), flag(4), flag(2), flag(3)});
  }
  return out;
}

struct UniqueKey {
  std::string index;
  bool primary = false;
  std::vector<std::string> columns;
};

// Primary key first, then unique indexes by name; plain columns only.
constexpr const char* kKeysSql = R"sql(
SELECT c.relname, i.indisprimary, a.attname
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1::oid AND i.indisunique AND i.indisvalid AND i.indimmediate
  AND i.indpred IS NULL AND i.indexprs IS NULL AND k.ord <= i.indnkeyatts
ORDER BY i.indisprimary DESC, c.relname, k.ord)sql";

Result<std::vector<UniqueKey>> ReadUniqueKeys(const PgConn& conn, const std::string& oid) {
  FERRY_ASSIGN_OR_RETURN(PgResult r, conn.ExecParams(kKeysSql, {oid}));
  std::vector<UniqueKey> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    std::string index = PQgetvalue(r.get(), i, 0);
    if (out.empty() || out.back().index != index) {
      out.push_back({index, PQgetvalue(r.get(), i, 1)[0] == 't', {}});
    }
    out.back().columns.push_back(PQgetvalue(r.get(), i, 2));
  }
  return out;
}

void ChooseKey(const std::vector<UniqueKey>& keys, const std::map<std::string, ColumnFacts>& src,
               const std::map<std::string, ColumnFacts>& tgt, ValidatedTable* t) {
  for (const auto& k : keys) {
    bool usable = true;
    for (const auto& c : k.columns) {
      usable = usable && src.count(c) && tgt.count(c) && src.at(c).not_null;
    }
    if (!usable) continue;
    t->key_columns = k.columns;
    for (const auto& c : k.columns) {
      t->key_collate_c.push_back(src.at(c).collatable &&
                                 !(src.at(c).bytewise && tgt.at(c).bytewise));
    }
    t->key_source = k.primary ? "primary key" : "unique index " + k.index;
    return;
  }
  t->key_source = "none";
}

}  // namespace

std::string ValidatedTable::From() const {
  std::string out = only ? "ONLY " : "";
  return out += QualifiedName(name.schema, name.table);
}

std::string ValidatedTable::RowText() const { return "ROW(" + QuoteIdentList(columns) + ")::text"; }

std::string ValidatedTable::RowHash() const {
  return "hashtextextended(" + RowText() + ", 0)";
}

std::string ValidatedTable::KeyList() const {
  std::string out;
  for (size_t i = 0; i < key_columns.size(); ++i) {
    out += (i ? ", " : "") + QuoteIdent(key_columns[i]) + (key_collate_c[i] ? " COLLATE \"C\"" : "");
  }
  return out;
}

Status PrepareValidateSession(const PgConn& conn) {
  return conn
      .Exec("SET DateStyle = ISO; SET IntervalStyle = postgres; SET TimeZone = 'UTC'; "
            "SET extra_float_digits = 3; SET bytea_output = hex; SET lc_monetary = 'C'; "
            "SET statement_timeout = 0")
      .status();
}

Result<std::vector<TableName>> ListUserRelations(const PgConn& conn, const std::string& relkinds) {
  FERRY_ASSIGN_OR_RETURN(PgResult r, conn.ExecParams(R"sql(
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE position(c.relkind::text IN $1) > 0 AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'ferry')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
ORDER BY 1, 2)sql", {relkinds}));
  std::vector<TableName> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    out.push_back({PQgetvalue(r.get(), i, 0), PQgetvalue(r.get(), i, 1)});
  }
  return out;
}

Result<std::vector<TableName>> ListUserTables(const PgConn& conn) { return ListUserRelations(conn, "rp"); }

Result<TableName> ParseTableName(const std::string& text) {
  size_t dot = text.find('.');
  TableName n = dot == std::string::npos ? TableName{"public", text}
                                         : TableName{text.substr(0, dot), text.substr(dot + 1)};
  if (n.schema.empty() || n.table.empty()) {
    return Status::InvalidArgument("table name '" + text + "' is not schema.table");
  }
  return n;
}

Result<ValidatedTable> DescribeTable(const PgConn& source, const PgConn& target,
                                     const TableName& name) {
  FERRY_ASSIGN_OR_RETURN(Relation src_rel, ReadRelation(source, name, "source"));
  FERRY_ASSIGN_OR_RETURN(Relation tgt_rel, ReadRelation(target, name, "target"));
  FERRY_ASSIGN_OR_RETURN(auto src_cols, ReadColumns(source, src_rel.oid));
  FERRY_ASSIGN_OR_RETURN(auto tgt_cols, ReadColumns(target, tgt_rel.oid));
  std::map<std::string, ColumnFacts> src, tgt;
  for (const auto& c : tgt_cols) tgt[c.name] = c;
  ValidatedTable t{name, {}, {}, {}, {}, ""};
  FERRY_RETURN_IF_ERROR(ChooseOnly(src_rel, tgt_rel, &t));
  for (const auto& c : src_cols) {
    src[c.name] = c;
    if (!tgt.count(c.name)) continue;
    t.columns.push_back(c.name);
    if (!tgt[c.name].generated) t.written_columns.push_back(c.name);
  }
  if (t.columns.empty()) {
    return Status::InvalidArgument("table " + name.Display() + " has no column on both sides");
  }
  FERRY_ASSIGN_OR_RETURN(auto keys, ReadUniqueKeys(source, src_rel.oid));
  ChooseKey(keys, src, tgt, &t);
  return t;
}

}  // namespace ferry::reconcile
