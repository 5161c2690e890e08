#include "apply/table_catalog.h"

#include <algorithm>

namespace ferry::apply {

namespace {

constexpr const char* kFindTable =
    "SELECT c.oid, c.relkind, c.relhasrules FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = $1 AND c.relname = $2";

constexpr const char* kColumns =
    "SELECT attname, pg_catalog.format_type(atttypid, atttypmod), atttypid, "
    "attgenerated <> '', attidentity = 'a', pg_catalog.format_type(atttypid, NULL), t.typarray "
    "FROM pg_catalog.pg_attribute JOIN pg_catalog.pg_type t ON t.oid = atttypid "
    "WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum";

// One row per key column. Only indexes PostgreSQL accepts as an ON CONFLICT
// arbiter for a plain column list: unique, valid, not deferrable, no predicate,
// no expressions; INCLUDE columns (past indnkeyatts) are not part of the key.
constexpr const char* kUniqueKeys =
    "SELECT i.indexrelid, a.attname FROM pg_catalog.pg_index i "
    "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
    "WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND i.indimmediate "
    "AND i.indpred IS NULL AND i.indexprs IS NULL AND k.ord <= i.indnkeyatts "
    "ORDER BY i.indisprimary DESC, i.indexrelid, k.ord";

constexpr const char* kUniqueIndexCount =
    "SELECT count(*) FROM pg_catalog.pg_index WHERE indrelid = $1 AND (indisunique OR indisexclusion)";

}  // namespace

std::string TableInfo::QualifiedName() const { return ferry::QualifiedName(schema, table); }

const ColumnInfo* TableInfo::FindColumn(std::string_view name) const {
  for (const auto& c : columns) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

bool TableInfo::HasIdentityAlways() const {
  return std::any_of(columns.begin(), columns.end(),
                     [](const ColumnInfo& c) { return c.identity_always; });
}

bool TableInfo::HasUniqueKey(const std::vector<std::string>& wanted) const {
  std::vector<std::string> w = wanted;
  std::sort(w.begin(), w.end());
  for (auto key : unique_keys) {
    std::sort(key.begin(), key.end());
    if (key == w) return true;
  }
  return false;
}

Result<const TableInfo*> TableCatalog::Get(const std::string& schema, const std::string& table) {
  FERRY_ASSIGN_OR_RETURN(const TableInfo* info, Find(schema, table));
  if (info != nullptr) return info;
  return Status::InvalidArgument("target table " + ferry::QualifiedName(schema, table) +
                                 " does not exist: create it first");
}

Result<const TableInfo*> TableCatalog::Find(const std::string& schema, const std::string& table) {
  auto it = cache_.find({schema, table});
  if (it != cache_.end()) return it->second.get();
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<TableInfo> info, Load(schema, table));
  if (info == nullptr) return static_cast<const TableInfo*>(nullptr);
  const TableInfo* out = info.get();
  cache_[{schema, table}] = std::move(info);
  return out;
}

const TableInfo* TableCatalog::Cached(const std::string& schema, const std::string& table) const {
  auto it = cache_.find({schema, table});
  return it == cache_.end() ? nullptr : it->second.get();
}

Result<const TableInfo*> TableCatalog::Refresh(const std::string& schema,
                                               const std::string& table) {
  cache_.erase({schema, table});
  return Get(schema, table);
}

Result<std::unique_ptr<TableInfo>> TableCatalog::Load(const std::string& schema,
                                                      const std::string& table) {
  auto info = std::make_unique<TableInfo>();
  info->schema = schema;
  info->table = table;
  FERRY_ASSIGN_OR_RETURN(PgResult found, conn_->ExecParams(kFindTable, {schema, table}));
  if (PQntuples(found.get()) == 0) return std::unique_ptr<TableInfo>();
  std::string relkind = PQgetvalue(found.get(), 0, 1);
  if (relkind != "r" && relkind != "p") {
    return Status::InvalidArgument("target " + info->QualifiedName() +
                                   " is not a table (relkind '" + relkind + "')");
  }
  std::string oid = PQgetvalue(found.get(), 0, 0);
  info->partitioned = relkind == "p";
  info->has_rules = std::string_view(PQgetvalue(found.get(), 0, 2)) == "t";

  FERRY_ASSIGN_OR_RETURN(PgResult cols, conn_->ExecParams(kColumns, {oid}));
  for (int row = 0; row < PQntuples(cols.get()); ++row) {
    info->columns.push_back({PQgetvalue(cols.get(), row, 0), PQgetvalue(cols.get(), row, 1),
                             PQgetvalue(cols.get(), row, 5),
                             static_cast<uint32_t>(std::stoul(PQgetvalue(cols.get(), row, 2))),
                             static_cast<uint32_t>(std::stoul(PQgetvalue(cols.get(), row, 6))),
                             PQgetvalue(cols.get(), row, 3)[0] == 't',
                             PQgetvalue(cols.get(), row, 4)[0] == 't'});
  }

  FERRY_ASSIGN_OR_RETURN(PgResult keys, conn_->ExecParams(kUniqueKeys, {oid}));
  std::string current_index;
  for (int row = 0; row < PQntuples(keys.get()); ++row) {
    std::string index = PQgetvalue(keys.get(), row, 0);
    if (index != current_index || info->unique_keys.empty()) info->unique_keys.emplace_back();
    current_index = index;
    info->unique_keys.back().push_back(PQgetvalue(keys.get(), row, 1));
  }
  FERRY_ASSIGN_OR_RETURN(std::string unique_indexes, conn_->QueryScalar(kUniqueIndexCount, {oid}));
  info->unique_indexes = std::stoi(unique_indexes);
  return info;
}

}  // namespace ferry::apply
